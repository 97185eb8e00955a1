//! EfficientNet-Lite0 image encoder: the 1280-d global-average-pooled head feature.
//!
//! The network is EfficientNet-B0's layout without squeeze-excite, with ReLU6 and
//! TensorFlow "SAME" padding (asymmetric at stride 2). BatchNorm (eps 1e-3) is folded into
//! the convolution weights once at load time. Activations are kept NHWC, so that:
//! - every 1x1 convolution is a plain `(pixels, c_in) x (c_in, c_out)` candle matmul;
//! - the depthwise convolutions run in a kernel of our own over contiguous channels
//!   (candle's grouped convolution is far slower);
//! - bias + ReLU6 are fused into the pass that pads the next layer's input.
//!
//! A batch is split over the rayon pool image by image (each image stays cache-resident).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Storage, Tensor};
use rayon::prelude::*;

use super::{check_file, EmbedError};

/// Identifies the weights and the forward pass; part of every cache key.
pub const IMAGE_MODEL_ID: &str = "efficientnet-lite0-imagenet-c7a07e69";
/// Side of the square model input.
pub const INPUT_SIZE: usize = 224;
/// Dimension of the pooled feature.
pub const FEATURE_DIM: usize = 1280;
/// Number of ImageNet classes of the classifier head.
pub const NUM_CLASSES: usize = 1000;

/// Weight file, relative to the models folder.
pub const WEIGHTS_FILE: &str = "efficientnet-lite0/efficientnet_lite0.safetensors";
/// sha256 of [`WEIGHTS_FILE`].
pub const WEIGHTS_SHA256: &str = "c7a07e69a3cc1489b24dd2f554db4472b08812b4562b8b97b4b828083a03d96c";

const BN_EPS: f32 = 1e-3;
/// (expand ratio, kernel, stride, c_in, c_out, repeats), EfficientNet-B0 layout.
const BLOCK_CFG: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];
const STEM_CH: usize = 32;
const HEAD_IN: usize = 320;

/// TensorFlow SAME padding along one axis: (pad before, output size).
pub fn same_pad(size: usize, k: usize, s: usize) -> (usize, usize) {
    let out = size.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(size);
    (total / 2, out)
}

/// A 1x1 convolution with folded BN: rhs `(c_in, c_out)` for the matmul, plus bias.
struct Pointwise {
    w: Tensor,
    b: Vec<f32>,
    cin: usize,
    cout: usize,
}

/// A depthwise convolution with folded BN; weights laid out `[(ky * k + kx) * c + ch]`.
struct Depthwise {
    w: Vec<f32>,
    b: Vec<f32>,
    k: usize,
    stride: usize,
    c: usize,
}

struct Block {
    expand: Option<Pointwise>,
    dw: Depthwise,
    project: Pointwise,
    residual: bool,
}

/// EfficientNet-Lite0, loaded once and run many times.
pub struct ImageEncoder {
    /// Stem as im2col rhs `(27, 32)`, rows ordered (ky, kx, c_in).
    stem_rgb: Tensor,
    /// Stem for a grey image replicated to 3 channels: the three input channels summed, `(9, 32)`.
    stem_gray: Tensor,
    stem_b: Vec<f32>,
    blocks: Vec<Block>,
    head: Pointwise,
    /// Classifier `(1280, 1000)` and bias.
    fc_w: Tensor,
    fc_b: Vec<f32>,
}

struct Weights {
    path: PathBuf,
    map: std::collections::HashMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let t = self.map.get(name).ok_or_else(|| EmbedError::Model {
            path: self.path.clone(),
            reason: format!("tensor {name} is missing (expected shape {shape:?})"),
        })?;
        if t.dims() != shape {
            return Err(EmbedError::Model {
                path: self.path.clone(),
                reason: format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()),
            });
        }
        Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// BN scale and shift for prefix `p` with `c` channels.
    fn bn(&self, p: &str, c: usize) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let g = self.get(&format!("{p}.weight"), &[c])?;
        let b = self.get(&format!("{p}.bias"), &[c])?;
        let m = self.get(&format!("{p}.running_mean"), &[c])?;
        let v = self.get(&format!("{p}.running_var"), &[c])?;
        let scale: Vec<f32> = g
            .iter()
            .zip(&v)
            .map(|(g, v)| g / (v + BN_EPS).sqrt())
            .collect();
        let shift = b
            .iter()
            .zip(&m)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok((scale, shift))
    }

    fn pointwise(
        &self,
        conv: &str,
        bn: &str,
        cin: usize,
        cout: usize,
    ) -> Result<Pointwise, EmbedError> {
        let w = self.get(conv, &[cout, cin, 1, 1])?;
        let (scale, shift) = self.bn(bn, cout)?;
        // (cout, cin) -> (cin, cout), scaled per output channel.
        let mut t = vec![0f32; cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                t[i * cout + o] = w[o * cin + i] * scale[o];
            }
        }
        Ok(Pointwise {
            w: Tensor::from_vec(t, (cin, cout), &Device::Cpu)?,
            b: shift,
            cin,
            cout,
        })
    }

    fn depthwise(
        &self,
        conv: &str,
        bn: &str,
        c: usize,
        k: usize,
        stride: usize,
    ) -> Result<Depthwise, EmbedError> {
        let w = self.get(conv, &[c, 1, k, k])?;
        let (scale, shift) = self.bn(bn, c)?;
        let mut t = vec![0f32; k * k * c];
        for ch in 0..c {
            for tap in 0..k * k {
                t[tap * c + ch] = w[ch * k * k + tap] * scale[ch];
            }
        }
        Ok(Depthwise {
            w: t,
            b: shift,
            k,
            stride,
            c,
        })
    }
}

impl ImageEncoder {
    /// Load `efficientnet-lite0/efficientnet_lite0.safetensors` from `models_dir`, after
    /// checking its sha256 and every tensor's shape.
    pub fn load(models_dir: &Path) -> Result<Self, EmbedError> {
        let path = models_dir.join(WEIGHTS_FILE);
        check_file(&path, WEIGHTS_SHA256)?;
        let map =
            candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| EmbedError::Model {
                path: path.clone(),
                reason: format!("not a safetensors file: {e}"),
            })?;
        let wt = Weights { path, map };

        let stem = wt.get("_conv_stem.weight", &[STEM_CH, 3, 3, 3])?;
        let (scale, stem_b) = wt.bn("_bn0", STEM_CH)?;
        let mut rgb = vec![0f32; 27 * STEM_CH];
        let mut gray = vec![0f32; 9 * STEM_CH];
        for o in 0..STEM_CH {
            for c in 0..3 {
                for tap in 0..9 {
                    let v = stem[((o * 3 + c) * 9) + tap] * scale[o];
                    rgb[(tap * 3 + c) * STEM_CH + o] = v;
                    gray[tap * STEM_CH + o] += v;
                }
            }
        }

        let mut blocks = Vec::new();
        let mut bi = 0;
        for &(e, k, s, cin0, cout, reps) in &BLOCK_CFG {
            for r in 0..reps {
                let (stride, cin) = if r == 0 { (s, cin0) } else { (1, cout) };
                let cexp = cin * e;
                let p = format!("_blocks.{bi}.");
                let expand = if e != 1 {
                    Some(wt.pointwise(
                        &format!("{p}_expand_conv.weight"),
                        &format!("{p}_bn0"),
                        cin,
                        cexp,
                    )?)
                } else {
                    None
                };
                let dw = wt.depthwise(
                    &format!("{p}_depthwise_conv.weight"),
                    &format!("{p}_bn1"),
                    cexp,
                    k,
                    stride,
                )?;
                let project = wt.pointwise(
                    &format!("{p}_project_conv.weight"),
                    &format!("{p}_bn2"),
                    cexp,
                    cout,
                )?;
                blocks.push(Block {
                    expand,
                    dw,
                    project,
                    residual: stride == 1 && cin == cout,
                });
                bi += 1;
            }
        }
        let head = wt.pointwise("_conv_head.weight", "_bn1", HEAD_IN, FEATURE_DIM)?;
        let fc = wt.get("_fc.weight", &[NUM_CLASSES, FEATURE_DIM])?;
        let fc_b = wt.get("_fc.bias", &[NUM_CLASSES])?;
        let fc_w = Tensor::from_vec(fc, (NUM_CLASSES, FEATURE_DIM), &Device::Cpu)?
            .t()?
            .contiguous()?;
        Ok(Self {
            stem_rgb: Tensor::from_vec(rgb, (27, STEM_CH), &Device::Cpu)?,
            stem_gray: Tensor::from_vec(gray, (9, STEM_CH), &Device::Cpu)?,
            stem_b,
            blocks,
            head,
            fc_w,
            fc_b,
        })
    }

    /// Pooled features of grey 224x224 images (row-major u8, one slice per image): each is
    /// replicated to 3 channels and scaled as (x - 127) / 128. One row per image.
    pub fn embed_gray(&self, images: &[&[u8]]) -> Result<crate::Matrix, EmbedError> {
        for (i, im) in images.iter().enumerate() {
            if im.len() != INPUT_SIZE * INPUT_SIZE {
                return Err(EmbedError::Input(format!(
                    "image {i} has {} pixels, expected {INPUT_SIZE}x{INPUT_SIZE}",
                    im.len()
                )));
            }
        }
        let feats: Vec<Vec<f32>> = images
            .par_iter()
            .map(|im| {
                let x: Vec<f32> = im.iter().map(|&p| (p as f32 - 127.0) / 128.0).collect();
                self.features_nhwc(&x, INPUT_SIZE, INPUT_SIZE, 1)
            })
            .collect::<Result<_, _>>()?;
        Ok(crate::Matrix::from_rows(&feats))
    }

    /// Features `(B, 1280)` and ImageNet logits `(B, 1000)` of an already normalised
    /// `(B, 3, H, W)` f32 tensor (as the ImageNet parity test feeds it).
    pub fn forward_rgb(&self, nchw: &Tensor) -> Result<(Tensor, Tensor), EmbedError> {
        let (b, c, h, w) = nchw.dims4()?;
        if c != 3 {
            return Err(EmbedError::Input(format!("expected 3 channels, got {c}")));
        }
        // NCHW -> NHWC.
        let nhwc = nchw
            .to_dtype(DType::F32)?
            .permute((0, 2, 3, 1))?
            .contiguous()?;
        let data = nhwc.flatten_all()?.to_vec1::<f32>()?;
        let per = h * w * 3;
        let feats: Vec<Vec<f32>> = (0..b)
            .into_par_iter()
            .map(|i| self.features_nhwc(&data[i * per..(i + 1) * per], h, w, 3))
            .collect::<Result<_, _>>()?;
        let flat: Vec<f32> = feats.concat();
        let f = Tensor::from_vec(flat, (b, FEATURE_DIM), &Device::Cpu)?;
        let logits = f
            .matmul(&self.fc_w)?
            .broadcast_add(&Tensor::new(self.fc_b.as_slice(), &Device::Cpu)?)?;
        Ok((f, logits))
    }

    /// One image, NHWC with `c` = 1 (grey, stem weights summed) or 3 channels.
    fn features_nhwc(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        c: usize,
    ) -> Result<Vec<f32>, EmbedError> {
        // Stem: 3x3 stride 2 as im2col + matmul.
        let (pt, oh) = same_pad(h, 3, 2);
        let (pl, ow) = same_pad(w, 3, 2);
        let kc = 9 * c;
        let mut cols = vec![0f32; oh * ow * kc];
        for oy in 0..oh {
            for ox in 0..ow {
                let dst = &mut cols[(oy * ow + ox) * kc..(oy * ow + ox + 1) * kc];
                for ky in 0..3 {
                    let iy = (oy * 2 + ky) as isize - pt as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..3 {
                        let ix = (ox * 2 + kx) as isize - pl as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        let src = (iy as usize * w + ix as usize) * c;
                        let d = (ky * 3 + kx) * c;
                        dst[d..d + c].copy_from_slice(&x[src..src + c]);
                    }
                }
            }
        }
        let stem_w = if c == 1 {
            &self.stem_gray
        } else {
            &self.stem_rgb
        };
        let t = matmul(cols, oh * ow, kc, stem_w)?;
        let (mut hh, mut ww) = (oh, ow);
        let mut act = with_slice(&t, |s| {
            let mut out = vec![0f32; s.len()];
            kernels::bias_relu6(&mut out, s, &self.stem_b);
            out
        })?;

        for blk in &self.blocks {
            let cexp = blk.dw.c;
            let k = blk.dw.k;
            let (pt, oh) = same_pad(hh, k, blk.dw.stride);
            let (pl, ow) = same_pad(ww, k, blk.dw.stride);
            // Padded depthwise input: enough room for every tap of every output.
            let ph = ((oh - 1) * blk.dw.stride + k).max(hh + pt);
            let pw = ((ow - 1) * blk.dw.stride + k).max(ww + pl);
            let mut padded = vec![0f32; ph * pw * cexp];
            match &blk.expand {
                Some(e) => {
                    let t = matmul_ref(&act, hh * ww, e.cin, &e.w)?;
                    with_slice(&t, |s| {
                        for y in 0..hh {
                            let dst = &mut padded
                                [((y + pt) * pw + pl) * cexp..((y + pt) * pw + pl + ww) * cexp];
                            kernels::bias_relu6(dst, &s[y * ww * cexp..(y + 1) * ww * cexp], &e.b);
                        }
                    })?;
                }
                None => {
                    for y in 0..hh {
                        padded[((y + pt) * pw + pl) * cexp..((y + pt) * pw + pl + ww) * cexp]
                            .copy_from_slice(&act[y * ww * cexp..(y + 1) * ww * cexp]);
                    }
                }
            }
            let mut dw_out = vec![0f32; oh * ow * cexp];
            kernels::depthwise_relu6(
                &mut dw_out,
                &padded,
                pw,
                oh,
                ow,
                &blk.dw.w,
                &blk.dw.b,
                k,
                blk.dw.stride,
                cexp,
            );
            drop(padded);
            let p = &blk.project;
            let t = matmul(dw_out, oh * ow, p.cin, &p.w)?;
            act = with_slice(&t, |s| {
                let mut out = vec![0f32; s.len()];
                if blk.residual {
                    kernels::bias_residual(&mut out, s, &p.b, &act);
                } else {
                    kernels::bias(&mut out, s, &p.b);
                }
                out
            })?;
            debug_assert_eq!(act.len(), oh * ow * p.cout);
            hh = oh;
            ww = ow;
        }

        // Head 1x1 + ReLU6, then global average pool.
        let t = matmul(act, hh * ww, self.head.cin, &self.head.w)?;
        let feat = with_slice(&t, |s| kernels::bias_relu6_mean(s, &self.head.b, hh * ww))?;
        Ok(feat)
    }

    /// ImageNet logits of pooled features `(n, 1280)`.
    pub fn classify(&self, features: &crate::Matrix) -> Result<crate::Matrix, EmbedError> {
        let f = Tensor::from_vec(
            features.data.clone(),
            (features.rows, features.cols),
            &Device::Cpu,
        )?;
        let l = f
            .matmul(&self.fc_w)?
            .broadcast_add(&Tensor::new(self.fc_b.as_slice(), &Device::Cpu)?)?;
        Ok(crate::Matrix::from_vec(
            features.rows,
            NUM_CLASSES,
            l.flatten_all()?.to_vec1()?,
        ))
    }
}

fn matmul(x: Vec<f32>, m: usize, k: usize, w: &Tensor) -> Result<Tensor, EmbedError> {
    Ok(Tensor::from_vec(x, (m, k), &Device::Cpu)?.matmul(w)?)
}

fn matmul_ref(x: &[f32], m: usize, k: usize, w: &Tensor) -> Result<Tensor, EmbedError> {
    Ok(Tensor::from_slice(x, (m, k), &Device::Cpu)?.matmul(w)?)
}

/// Run `f` on the contiguous f32 data of a CPU tensor without copying it.
fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R, EmbedError> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) if layout.is_contiguous() => {
            let s = cpu.as_slice::<f32>()?;
            let n = layout.shape().elem_count();
            Ok(f(&s[layout.start_offset()..layout.start_offset() + n]))
        }
        _ => Err(EmbedError::Input(
            "expected a contiguous CPU f32 tensor".into(),
        )),
    }
}

/// Element-wise and depthwise kernels over NHWC data. AVX2+FMA when the CPU has it (our
/// crate is built at a low optimisation level in debug builds, so these are written with
/// explicit SIMD), with a scalar path otherwise. Channel counts need not be multiples of 8.
mod kernels {
    #[inline]
    fn relu6(v: f32) -> f32 {
        v.clamp(0.0, 6.0)
    }

    fn has_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// `dst[p, c] = relu6(src[p, c] + b[c])`.
    pub fn bias_relu6(dst: &mut [f32], src: &[f32], b: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { avx::bias_act(dst, src, b, None, true) };
            return;
        }
        let c = b.len();
        for (d, s) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
            for i in 0..c {
                d[i] = relu6(s[i] + b[i]);
            }
        }
    }

    /// `dst[p, c] = src[p, c] + b[c]`.
    pub fn bias(dst: &mut [f32], src: &[f32], b: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { avx::bias_act(dst, src, b, None, false) };
            return;
        }
        let c = b.len();
        for (d, s) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
            for i in 0..c {
                d[i] = s[i] + b[i];
            }
        }
    }

    /// `dst[p, c] = src[p, c] + b[c] + res[p, c]`.
    pub fn bias_residual(dst: &mut [f32], src: &[f32], b: &[f32], res: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { avx::bias_act(dst, src, b, Some(res), false) };
            return;
        }
        let c = b.len();
        for ((d, s), r) in dst
            .chunks_exact_mut(c)
            .zip(src.chunks_exact(c))
            .zip(res.chunks_exact(c))
        {
            for i in 0..c {
                d[i] = s[i] + b[i] + r[i];
            }
        }
    }

    /// Mean over the `n` pixels of `relu6(src[p, c] + b[c])`.
    pub fn bias_relu6_mean(src: &[f32], b: &[f32], n: usize) -> Vec<f32> {
        let c = b.len();
        let mut acc = vec![0f32; c];
        let mut tmp = vec![0f32; c];
        for s in src.chunks_exact(c).take(n) {
            bias_relu6(&mut tmp, s, b);
            for (a, t) in acc.iter_mut().zip(&tmp) {
                *a += t;
            }
        }
        let inv = 1.0 / n.max(1) as f32;
        acc.iter_mut().for_each(|a| *a *= inv);
        acc
    }

    /// Depthwise k x k convolution over a zero-padded NHWC input of width `pw`, then
    /// bias + ReLU6. Weights `[(ky * k + kx) * c + ch]`.
    #[allow(clippy::too_many_arguments)]
    pub fn depthwise_relu6(
        out: &mut [f32],
        padded: &[f32],
        pw: usize,
        oh: usize,
        ow: usize,
        w: &[f32],
        b: &[f32],
        k: usize,
        s: usize,
        c: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() && c % 8 == 0 {
            // SAFETY: AVX2 and FMA were detected at run time; c is a multiple of 8.
            unsafe { avx::depthwise_relu6(out, padded, pw, oh, ow, w, b, k, s, c) };
            return;
        }
        for oy in 0..oh {
            for ox in 0..ow {
                let o = &mut out[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
                o.copy_from_slice(b);
                for ky in 0..k {
                    for kx in 0..k {
                        let base = ((oy * s + ky) * pw + ox * s + kx) * c;
                        let wt = &w[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                        for ch in 0..c {
                            o[ch] += padded[base + ch] * wt[ch];
                        }
                    }
                }
                o.iter_mut().for_each(|v| *v = relu6(*v));
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod avx {
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn bias_act(
            dst: &mut [f32],
            src: &[f32],
            b: &[f32],
            res: Option<&[f32]>,
            relu6: bool,
        ) {
            let c = b.len();
            assert!(src.len() >= dst.len() && dst.len() % c == 0);
            if let Some(r) = res {
                assert!(r.len() >= dst.len());
            }
            let zero = _mm256_setzero_ps();
            let six = _mm256_set1_ps(6.0);
            let pixels = dst.len() / c;
            let c8 = c - c % 8;
            let (dp, sp, bp) = (dst.as_mut_ptr(), src.as_ptr(), b.as_ptr());
            for p in 0..pixels {
                let off = p * c;
                let mut i = 0;
                while i < c8 {
                    let mut v =
                        _mm256_add_ps(_mm256_loadu_ps(sp.add(off + i)), _mm256_loadu_ps(bp.add(i)));
                    if let Some(r) = res {
                        v = _mm256_add_ps(v, _mm256_loadu_ps(r.as_ptr().add(off + i)));
                    }
                    if relu6 {
                        v = _mm256_min_ps(_mm256_max_ps(v, zero), six);
                    }
                    _mm256_storeu_ps(dp.add(off + i), v);
                    i += 8;
                }
                while i < c {
                    let mut v = *sp.add(off + i) + *bp.add(i);
                    if let Some(r) = res {
                        v += r[off + i];
                    }
                    if relu6 {
                        v = v.clamp(0.0, 6.0);
                    }
                    *dp.add(off + i) = v;
                    i += 1;
                }
            }
        }

        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn depthwise_relu6(
            out: &mut [f32],
            padded: &[f32],
            pw: usize,
            oh: usize,
            ow: usize,
            w: &[f32],
            b: &[f32],
            k: usize,
            s: usize,
            c: usize,
        ) {
            assert!(out.len() >= oh * ow * c && w.len() >= k * k * c && b.len() >= c);
            assert!(padded.len() >= (((oh - 1) * s + k - 1) * pw + (ow - 1) * s + k) * c);
            let zero = _mm256_setzero_ps();
            let six = _mm256_set1_ps(6.0);
            let (op, ip, wp, bp) = (out.as_mut_ptr(), padded.as_ptr(), w.as_ptr(), b.as_ptr());
            // Four channel vectors at a time keep four independent FMA chains in flight.
            let c32 = c - c % 32;
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = op.add((oy * ow + ox) * c);
                    let origin = (oy * s * pw + ox * s) * c;
                    let mut ch = 0;
                    while ch < c32 {
                        let mut a0 = _mm256_loadu_ps(bp.add(ch));
                        let mut a1 = _mm256_loadu_ps(bp.add(ch + 8));
                        let mut a2 = _mm256_loadu_ps(bp.add(ch + 16));
                        let mut a3 = _mm256_loadu_ps(bp.add(ch + 24));
                        for ky in 0..k {
                            let row = ip.add(origin + ky * pw * c + ch);
                            let wrow = wp.add(ky * k * c + ch);
                            for kx in 0..k {
                                let x = row.add(kx * c);
                                let wt = wrow.add(kx * c);
                                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(wt), a0);
                                a1 = _mm256_fmadd_ps(
                                    _mm256_loadu_ps(x.add(8)),
                                    _mm256_loadu_ps(wt.add(8)),
                                    a1,
                                );
                                a2 = _mm256_fmadd_ps(
                                    _mm256_loadu_ps(x.add(16)),
                                    _mm256_loadu_ps(wt.add(16)),
                                    a2,
                                );
                                a3 = _mm256_fmadd_ps(
                                    _mm256_loadu_ps(x.add(24)),
                                    _mm256_loadu_ps(wt.add(24)),
                                    a3,
                                );
                            }
                        }
                        _mm256_storeu_ps(o.add(ch), _mm256_min_ps(_mm256_max_ps(a0, zero), six));
                        _mm256_storeu_ps(
                            o.add(ch + 8),
                            _mm256_min_ps(_mm256_max_ps(a1, zero), six),
                        );
                        _mm256_storeu_ps(
                            o.add(ch + 16),
                            _mm256_min_ps(_mm256_max_ps(a2, zero), six),
                        );
                        _mm256_storeu_ps(
                            o.add(ch + 24),
                            _mm256_min_ps(_mm256_max_ps(a3, zero), six),
                        );
                        ch += 32;
                    }
                    while ch < c {
                        let mut a = _mm256_loadu_ps(bp.add(ch));
                        for ky in 0..k {
                            for kx in 0..k {
                                let x = ip.add(origin + (ky * pw + kx) * c + ch);
                                let wt = wp.add((ky * k + kx) * c + ch);
                                a = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(wt), a);
                            }
                        }
                        _mm256_storeu_ps(o.add(ch), _mm256_min_ps(_mm256_max_ps(a, zero), six));
                        ch += 8;
                    }
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn simd_matches_scalar_depthwise() {
            // 2x2 output, k = 3, stride 2, 40 channels (exercises the 32-wide and 8-wide paths).
            let (c, k, s, oh, ow) = (40, 3, 2, 2, 2);
            let pw = (ow - 1) * s + k;
            let ph = (oh - 1) * s + k;
            let padded: Vec<f32> = (0..ph * pw * c)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
                .collect();
            let w: Vec<f32> = (0..k * k * c)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) / 20.0)
                .collect();
            let b: Vec<f32> = (0..c).map(|i| i as f32 / 10.0 - 1.0).collect();
            let mut got = vec![0f32; oh * ow * c];
            depthwise_relu6(&mut got, &padded, pw, oh, ow, &w, &b, k, s, c);
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let mut acc = b[ch];
                        for ky in 0..k {
                            for kx in 0..k {
                                acc += padded[((oy * s + ky) * pw + ox * s + kx) * c + ch]
                                    * w[(ky * k + kx) * c + ch];
                            }
                        }
                        let want = acc.clamp(0.0, 6.0);
                        let g = got[(oy * ow + ox) * c + ch];
                        assert!((g - want).abs() < 1e-5, "({oy},{ox},{ch}): {g} vs {want}");
                    }
                }
            }
        }

        #[test]
        fn bias_kernels_handle_odd_channel_counts() {
            let src: Vec<f32> = (0..22).map(|i| i as f32 - 5.0).collect();
            let b: Vec<f32> = (0..11).map(|i| i as f32 * 0.1).collect();
            let mut out = vec![0f32; 22];
            bias_relu6(&mut out, &src, &b);
            for (i, o) in out.iter().enumerate() {
                assert_eq!(*o, (src[i] + b[i % 11]).clamp(0.0, 6.0));
            }
            let res = vec![1.0f32; 22];
            bias_residual(&mut out, &src, &b, &res);
            for (i, o) in out.iter().enumerate() {
                assert_eq!(*o, src[i] + b[i % 11] + 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_padding_is_asymmetric_at_stride_two() {
        assert_eq!(same_pad(224, 3, 2), (0, 112));
        assert_eq!(same_pad(112, 5, 2), (1, 56));
        assert_eq!(same_pad(56, 3, 1), (1, 56));
        assert_eq!(same_pad(14, 5, 1), (2, 14));
        assert_eq!(same_pad(7, 3, 2), (1, 4));
    }

    #[test]
    fn missing_weights_name_the_file_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let err = ImageEncoder::load(dir.path())
            .err()
            .expect("must fail")
            .to_string();
        assert!(err.contains("efficientnet_lite0.safetensors"), "{err}");
        assert!(err.contains(WEIGHTS_SHA256), "{err}");
    }
}
