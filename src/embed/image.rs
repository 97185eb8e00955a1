//! EfficientNet-Lite0 image encoder: the 1280-d global-average-pooled head feature.
//!
//! The network is EfficientNet-B0's layout without squeeze-excite, with ReLU6 and
//! TensorFlow "SAME" padding (asymmetric at stride 2). BatchNorm (eps 1e-3) is folded into
//! the convolution weights once at load time. Activations are kept NHWC, so that:
//! - every 1x1 convolution is a plain `(pixels, c_in) x (c_in, c_out)` GEMM (the `gemm`
//!   crate under candle's matmul, called directly: see [`pointwise_into`]);
//! - the depthwise convolutions run in a kernel of our own over contiguous channels
//!   (candle's grouped convolution is far slower);
//! - the expansion convolution writes each image line straight into the padded input of
//!   the depthwise convolution, with bias and ReLU6 applied while the line is in cache.
//!
//! A batch is split over the rayon pool image by image, each image on one thread.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
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

/// A 1x1 convolution with folded BN: rhs `(c_in, c_out)` row-major for the GEMM, plus bias.
struct Pointwise {
    w: Vec<f32>,
    /// `w` in the panel layout of the AVX2 kernel ([`kernels::pack_pointwise`]).
    packed: Vec<f32>,
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
    stem_rgb: Vec<f32>,
    /// Stem for a grey image replicated to 3 channels: the three input channels summed, `(9, 32)`.
    stem_gray: Vec<f32>,
    /// The two stems in the AVX2 kernel's panel layout.
    stem_rgb_packed: Vec<f32>,
    stem_gray_packed: Vec<f32>,
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
            packed: kernels::pack_pointwise(&t, cin, cout),
            w: t,
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
            stem_rgb_packed: kernels::pack_pointwise(&rgb, 27, STEM_CH),
            stem_gray_packed: kernels::pack_pointwise(&gray, 9, STEM_CH),
            stem_rgb: rgb,
            stem_gray: gray,
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
        SCRATCH.with(|s| self.features_with(&mut s.borrow_mut(), x, h, w, c))
    }

    fn features_with(
        &self,
        scratch: &mut Scratch,
        x: &[f32],
        h: usize,
        w: usize,
        c: usize,
    ) -> Result<Vec<f32>, EmbedError> {
        let Scratch {
            cols,
            act,
            out,
            padded,
            dw_out,
        } = scratch;
        // Stem: 3x3 stride 2 as im2col + matmul.
        let (pt, oh) = same_pad(h, 3, 2);
        let (pl, ow) = same_pad(w, 3, 2);
        let kc = 9 * c;
        let cols = grow(cols, oh * ow * kc);
        for oy in 0..oh {
            for ox in 0..ow {
                let dst = &mut cols[(oy * ow + ox) * kc..(oy * ow + ox + 1) * kc];
                // Taps outside the image read as zero (the buffer is reused).
                let inside =
                    oy * 2 >= pt && oy * 2 + 3 <= h + pt && ox * 2 >= pl && ox * 2 + 3 <= w + pl;
                if !inside {
                    dst.fill(0.0);
                }
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
        let (stem_w, stem_packed) = if c == 1 {
            (&self.stem_gray, &self.stem_gray_packed)
        } else {
            (&self.stem_rgb, &self.stem_rgb_packed)
        };
        let mut act_len = oh * ow * STEM_CH;
        pointwise_into(
            cols,
            kc,
            stem_w,
            stem_packed,
            &self.stem_b,
            None,
            grow(act, act_len),
            STEM_CH,
            true,
        );
        let (mut hh, mut ww) = (oh, ow);

        for blk in &self.blocks {
            let cexp = blk.dw.c;
            let k = blk.dw.k;
            let (pt, oh) = same_pad(hh, k, blk.dw.stride);
            let (pl, ow) = same_pad(ww, k, blk.dw.stride);
            // Padded depthwise input: enough room for every tap of every output.
            let ph = ((oh - 1) * blk.dw.stride + k).max(hh + pt);
            let pw = ((ow - 1) * blk.dw.stride + k).max(ww + pl);
            let padded = grow(padded, ph * pw * cexp);
            // The buffer is reused: zero the padding, every interior value is written.
            padded[..pt * pw * cexp].fill(0.0);
            padded[(pt + hh) * pw * cexp..].fill(0.0);
            let input = &act[..act_len];
            // Each image line goes straight into the interior of the padded buffer, with
            // its bias and ReLU6 applied while the line is still in cache.
            for y in 0..hh {
                let line = &mut padded[(y + pt) * pw * cexp..(y + pt + 1) * pw * cexp];
                line[..pl * cexp].fill(0.0);
                line[(pl + ww) * cexp..].fill(0.0);
                let dst = &mut line[pl * cexp..(pl + ww) * cexp];
                match &blk.expand {
                    Some(e) => {
                        let src = &input[y * ww * e.cin..(y + 1) * ww * e.cin];
                        pointwise_into(src, e.cin, &e.w, &e.packed, &e.b, None, dst, cexp, true);
                    }
                    None => dst.copy_from_slice(&input[y * ww * cexp..(y + 1) * ww * cexp]),
                }
            }
            let dw_out = grow(dw_out, oh * ow * cexp);
            kernels::depthwise_relu6(
                dw_out,
                padded,
                pw,
                oh,
                ow,
                &blk.dw.w,
                &blk.dw.b,
                k,
                blk.dw.stride,
                cexp,
            );
            let p = &blk.project;
            let out_len = oh * ow * p.cout;
            let res = blk.residual.then_some(&act[..act_len]);
            pointwise_into(
                dw_out,
                p.cin,
                &p.w,
                &p.packed,
                &p.b,
                res,
                grow(out, out_len),
                p.cout,
                false,
            );
            std::mem::swap(act, out);
            act_len = out_len;
            hh = oh;
            ww = ow;
        }

        // Head 1x1 + ReLU6, then global average pool.
        let h = &self.head;
        let out = grow(out, hh * ww * h.cout);
        pointwise_into(
            &act[..act_len],
            h.cin,
            &h.w,
            &h.packed,
            &h.b,
            None,
            out,
            h.cout,
            true,
        );
        let inv = 1.0 / (hh * ww).max(1) as f32;
        let mut feat = vec![0f32; h.cout];
        for row in out.chunks_exact(h.cout) {
            for (f, &v) in feat.iter_mut().zip(row) {
                *f += v;
            }
        }
        feat.iter_mut().for_each(|f| *f *= inv);
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

/// Activation buffers of one thread, reused from image to image: every network call
/// would otherwise allocate and zero some 20 MB, which took a tenth of the time.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    act: Vec<f32>,
    out: Vec<f32>,
    padded: Vec<f32>,
    dw_out: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// The first `n` values of `buf`, growing it (with zeros) if it is shorter. What is
/// already there is left as it is: callers write every value they read.
fn grow(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}

/// A 1x1 convolution of `x` (`m` pixels x `k` channels, row-major) by `w` (`k` x `n`)
/// into `dst` (`m` x `n`): `dst = bias (+ res) + x w`, then ReLU6 when `relu6`.
///
/// On AVX2 + FMA this runs [`kernels::pointwise_avx2`] on `packed` (the weights in panel
/// layout, packed once at load): a register-blocked kernel with the bias, the residual
/// and the ReLU6 applied in registers, so each output is written once. Hand-written
/// because these products are small and thin (k = 9 to 1152, n = 16 to 1280, and m one
/// image line in the expansions): the `gemm` crate, the GEMM under candle's matmul,
/// repacks the weights on every call and spent 54 % of the embedding time at a third of
/// the FMA peak (docs/bench/embed.md has the before and after). Elsewhere, or with
/// `packed` empty, it calls the `gemm` crate directly: bias and residual are written into
/// the destination first and accumulated into, on the calling thread (images are
/// already spread over the rayon pool).
#[allow(clippy::too_many_arguments)]
fn pointwise_into(
    x: &[f32],
    k: usize,
    w: &[f32],
    packed: &[f32],
    bias: &[f32],
    res: Option<&[f32]>,
    dst: &mut [f32],
    n: usize,
    relu6: bool,
) {
    let m = x.len() / k.max(1);
    assert_eq!(x.len(), m * k, "pointwise: input is not m x k");
    assert_eq!(w.len(), k * n, "pointwise: weights are not k x n");
    assert_eq!(dst.len(), m * n, "pointwise: destination is not m x n");
    assert_eq!(bias.len(), n, "pointwise: bias is not n");
    if let Some(r) = res {
        assert_eq!(r.len(), m * n, "pointwise: residual is not m x n");
    }
    if kernels::pointwise_packed(x, m, k, packed, n, bias, res, dst, relu6) {
        return;
    }
    match res {
        Some(r) => {
            for (d, r) in dst.chunks_exact_mut(n).zip(r.chunks_exact(n)) {
                for ((d, &r), &b) in d.iter_mut().zip(r).zip(bias) {
                    *d = r + b;
                }
            }
        }
        None => dst
            .chunks_exact_mut(n)
            .for_each(|d| d.copy_from_slice(bias)),
    }
    if m > 0 && n > 0 && k > 0 {
        // SAFETY: the asserts above bound every access: x is m x k with row stride k,
        // w is k x n with row stride n, dst is m x n with row stride n, all contiguous.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    if relu6 {
        kernels::relu6_inplace(dst);
    }
}

/// Element-wise and depthwise kernels over NHWC data. The depthwise convolution has an
/// explicit AVX2+FMA path (four independent FMA chains; the compiler does not find that
/// form from the scalar loop, which is the fallback). Channel counts need not be
/// multiples of 8.
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

    /// Width of one weight panel of the pointwise kernel (two AVX vectors).
    const NR: usize = 16;

    /// `w` (`k` x `n`, row-major) as panels of [`NR`] columns, each `k` x 16 contiguous;
    /// when `n % 16 == 8` the last panel is `k` x 8. Empty when `n` is not a multiple of
    /// 8 (the kernel does not take such shapes; the GEMM fallback does).
    pub fn pack_pointwise(w: &[f32], k: usize, n: usize) -> Vec<f32> {
        if n % 8 != 0 || w.len() != k * n {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(k * n);
        let mut col = 0;
        while col < n {
            let width = (n - col).min(NR);
            for p in 0..k {
                out.extend_from_slice(&w[p * n + col..p * n + col + width]);
            }
            col += width;
        }
        out
    }

    /// `dst = relu6?(bias (+ res) + x w)` with the packed weights, when this CPU and
    /// shape allow it; false (nothing written) otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn pointwise_packed(
        x: &[f32],
        m: usize,
        k: usize,
        packed: &[f32],
        n: usize,
        bias: &[f32],
        res: Option<&[f32]>,
        dst: &mut [f32],
        relu6: bool,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() && n % 8 == 0 && packed.len() == k * n && k > 0 {
            assert!(x.len() >= m * k && dst.len() >= m * n && bias.len() >= n);
            assert!(res.is_none_or(|r| r.len() >= m * n));
            // SAFETY: AVX2 and FMA were detected at run time; every slice is at least
            // as long as the shapes the kernel walks (asserted above).
            unsafe { avx::pointwise(x, m, k, packed, n, bias, res, dst, relu6) };
            return true;
        }
        let _ = (x, m, k, packed, n, bias, res, dst, relu6);
        false
    }

    /// `v = relu6(v)` in place (vectorised by the compiler: a max and a min).
    pub fn relu6_inplace(v: &mut [f32]) {
        for x in v {
            *x = x.clamp(0.0, 6.0);
        }
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

        /// Rows of `x` per register block: 6 rows x 2 vectors = 12 accumulators, plus two
        /// weight vectors and one broadcast, fits the 16 AVX registers.
        const MR: usize = 6;

        /// See [`super::pointwise_packed`]. Walks output blocks of up to 6 rows x 16
        /// columns; for each, the `k` products accumulate in registers that start from
        /// the bias (plus the residual), and the block is clamped and stored once. When
        /// the weights outgrow a quarter of L2, panels are the outer loop, so each panel
        /// stays in cache while all rows pass over it.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn pointwise(
            x: &[f32],
            m: usize,
            k: usize,
            packed: &[f32],
            n: usize,
            bias: &[f32],
            res: Option<&[f32]>,
            dst: &mut [f32],
            relu6: bool,
        ) {
            let (xp, wp, bp, dp) = (x.as_ptr(), packed.as_ptr(), bias.as_ptr(), dst.as_mut_ptr());
            let rp = res.map(|r| r.as_ptr());
            // (first column, width, offset of the panel in `packed`)
            let mut panels = Vec::with_capacity(n.div_ceil(super::NR));
            let mut col = 0;
            while col < n {
                let width = (n - col).min(super::NR);
                panels.push((col, width, col * k));
                col += width;
            }
            let run = |row: usize, &(col, width, off): &(usize, usize, usize)| {
                let rows = (m - row).min(MR);
                let x0 = xp.add(row * k);
                let w0 = wp.add(off);
                let b0 = bp.add(col);
                let d0 = dp.add(row * n + col);
                let r0 = rp.map(|r| r.add(row * n + col));
                // SAFETY (all arms): row + rows <= m and col + width <= n, so every
                // access is inside x (m x k), packed, bias (n), dst and res (m x n).
                match (rows, width) {
                    (6, 16) => block::<6, 2>(x0, k, w0, b0, r0, d0, n, relu6),
                    (5, 16) => block::<5, 2>(x0, k, w0, b0, r0, d0, n, relu6),
                    (4, 16) => block::<4, 2>(x0, k, w0, b0, r0, d0, n, relu6),
                    (3, 16) => block::<3, 2>(x0, k, w0, b0, r0, d0, n, relu6),
                    (2, 16) => block::<2, 2>(x0, k, w0, b0, r0, d0, n, relu6),
                    (1, 16) => block::<1, 2>(x0, k, w0, b0, r0, d0, n, relu6),
                    (6, _) => block::<6, 1>(x0, k, w0, b0, r0, d0, n, relu6),
                    (5, _) => block::<5, 1>(x0, k, w0, b0, r0, d0, n, relu6),
                    (4, _) => block::<4, 1>(x0, k, w0, b0, r0, d0, n, relu6),
                    (3, _) => block::<3, 1>(x0, k, w0, b0, r0, d0, n, relu6),
                    (2, _) => block::<2, 1>(x0, k, w0, b0, r0, d0, n, relu6),
                    _ => block::<1, 1>(x0, k, w0, b0, r0, d0, n, relu6),
                }
            };
            if k * n * 4 > 128 * 1024 {
                for p in &panels {
                    for row in (0..m).step_by(MR) {
                        run(row, p);
                    }
                }
            } else {
                for row in (0..m).step_by(MR) {
                    for p in &panels {
                        run(row, p);
                    }
                }
            }
        }

        /// One `R` x `8 V` output block: `x` is `R` rows of stride `k`, `w` a `k` x `8 V`
        /// panel, `d` (and `r`) `R` rows of stride `n`.
        #[allow(clippy::too_many_arguments)]
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn block<const R: usize, const V: usize>(
            x: *const f32,
            k: usize,
            w: *const f32,
            b: *const f32,
            r: Option<*const f32>,
            d: *mut f32,
            n: usize,
            relu6: bool,
        ) {
            let mut acc = [[_mm256_setzero_ps(); V]; R];
            for (i, row) in acc.iter_mut().enumerate() {
                for (v, a) in row.iter_mut().enumerate() {
                    *a = _mm256_loadu_ps(b.add(8 * v));
                    if let Some(r) = r {
                        *a = _mm256_add_ps(*a, _mm256_loadu_ps(r.add(i * n + 8 * v)));
                    }
                }
            }
            let mut wv = [_mm256_setzero_ps(); V];
            for p in 0..k {
                for (v, x) in wv.iter_mut().enumerate() {
                    *x = _mm256_loadu_ps(w.add(p * 8 * V + 8 * v));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let a = _mm256_broadcast_ss(&*x.add(i * k + p));
                    for (v, acc) in row.iter_mut().enumerate() {
                        *acc = _mm256_fmadd_ps(a, wv[v], *acc);
                    }
                }
            }
            let (zero, six) = (_mm256_setzero_ps(), _mm256_set1_ps(6.0));
            for (i, row) in acc.iter().enumerate() {
                for (v, &a) in row.iter().enumerate() {
                    let a = if relu6 {
                        _mm256_min_ps(_mm256_max_ps(a, zero), six)
                    } else {
                        a
                    };
                    _mm256_storeu_ps(d.add(i * n + 8 * v), a);
                }
            }
        }

        /// Output pixels per depthwise register block.
        const PX: usize = 4;

        /// Depthwise convolution + bias + ReLU6 (see [`super::depthwise_relu6`]). Blocks
        /// of 4 output pixels x 16 channels: each tap's weights are loaded once for the 4
        /// pixels, so a tap costs 5 loads for 4 FMAs per vector instead of 2 loads per
        /// FMA, which kept the pixel-at-a-time form bound by loads.
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
            let (op, ip, wp, bp) = (out.as_mut_ptr(), padded.as_ptr(), w.as_ptr(), b.as_ptr());
            let g = Geometry { pw, k, s, c };
            for oy in 0..oh {
                let mut ox = 0;
                while ox < ow {
                    let px = (ow - ox).min(PX);
                    let o = op.add((oy * ow + ox) * c);
                    let origin = ip.add((oy * s * pw + ox * s) * c);
                    let mut ch = 0;
                    while ch < c {
                        let wide = c - ch >= 16;
                        // SAFETY: px pixels from ox and 8 or 16 channels from ch are inside
                        // the output row and the padded input (asserted above).
                        match (px, wide) {
                            (4, true) => dw_block::<4, 2>(o, origin, wp, bp, ch, &g),
                            (3, true) => dw_block::<3, 2>(o, origin, wp, bp, ch, &g),
                            (2, true) => dw_block::<2, 2>(o, origin, wp, bp, ch, &g),
                            (1, true) => dw_block::<1, 2>(o, origin, wp, bp, ch, &g),
                            (4, false) => dw_block::<4, 1>(o, origin, wp, bp, ch, &g),
                            (3, false) => dw_block::<3, 1>(o, origin, wp, bp, ch, &g),
                            (2, false) => dw_block::<2, 1>(o, origin, wp, bp, ch, &g),
                            _ => dw_block::<1, 1>(o, origin, wp, bp, ch, &g),
                        }
                        ch += if wide { 16 } else { 8 };
                    }
                    ox += px;
                }
            }
        }

        #[derive(Clone, Copy)]
        struct Geometry {
            pw: usize,
            k: usize,
            s: usize,
            c: usize,
        }

        /// `P` output pixels x `8 V` channels from channel `ch`: `o` is the first output
        /// pixel, `x` the padded input at its receptive field's corner.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn dw_block<const P: usize, const V: usize>(
            o: *mut f32,
            x: *const f32,
            w: *const f32,
            b: *const f32,
            ch: usize,
            g: &Geometry,
        ) {
            let Geometry { pw, k, s, c } = *g;
            let mut acc = [[_mm256_setzero_ps(); V]; P];
            for row in acc.iter_mut() {
                for (v, a) in row.iter_mut().enumerate() {
                    *a = _mm256_loadu_ps(b.add(ch + 8 * v));
                }
            }
            let mut wv = [_mm256_setzero_ps(); V];
            for ky in 0..k {
                let xrow = x.add(ky * pw * c + ch);
                for kx in 0..k {
                    for (v, wt) in wv.iter_mut().enumerate() {
                        *wt = _mm256_loadu_ps(w.add((ky * k + kx) * c + ch + 8 * v));
                    }
                    for (p, row) in acc.iter_mut().enumerate() {
                        let xp = xrow.add((p * s + kx) * c);
                        for (v, a) in row.iter_mut().enumerate() {
                            *a = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(8 * v)), wv[v], *a);
                        }
                    }
                }
            }
            let (zero, six) = (_mm256_setzero_ps(), _mm256_set1_ps(6.0));
            for (p, row) in acc.iter().enumerate() {
                for (v, &a) in row.iter().enumerate() {
                    _mm256_storeu_ps(
                        o.add(p * c + ch + 8 * v),
                        _mm256_min_ps(_mm256_max_ps(a, zero), six),
                    );
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn simd_matches_scalar_depthwise() {
            // 40 channels (16 + 16 + 8), output widths that leave partial pixel blocks,
            // k = 3 and 5, strides 1 and 2.
            for (c, k, s, oh, ow) in [(40, 3, 2, 2, 2), (40, 3, 1, 3, 7), (24, 5, 2, 2, 5)] {
                let pw = (ow - 1) * s + k;
                let ph = (oh - 1) * s + k;
                let padded: Vec<f32> = (0..ph * pw * c)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
                    .collect();
                let w: Vec<f32> = (0..k * k * c)
                    .map(|i| ((i * 13 % 29) as f32 - 14.0) / 20.0)
                    .collect();
                let b: Vec<f32> = (0..c).map(|i| i as f32 / 10.0 - 1.0).collect();
                let mut got = vec![f32::NAN; oh * ow * c];
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
                            assert!(
                                (g - want).abs() < 1e-5,
                                "k{k} s{s} ({oy},{ox},{ch}): {g} vs {want}"
                            );
                        }
                    }
                }
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
    fn pointwise_matches_direct_sums_with_bias_residual_and_relu6() {
        // Shapes around the kernel's 6-row x 16-column blocks: partial row blocks, an
        // 8-wide last panel, weights large enough for the panel-outer order, and n = 13,
        // which only the GEMM fallback takes. Each runs packed and unpacked.
        for (m, k, n) in [
            (5, 11, 13),
            (7, 11, 24),
            (13, 9, 32),
            (6, 64, 640),
            (1, 3, 8),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 17) as f32 - 8.0) / 4.0)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 13) as f32 - 6.0) / 5.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 1.0).collect();
            let res: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
            let direct = |i: usize, j: usize| -> f32 {
                b[j] + (0..k).map(|t| x[i * k + t] * w[t * n + j]).sum::<f32>()
            };
            let packed = kernels::pack_pointwise(&w, k, n);
            assert_eq!(packed.is_empty(), n % 8 != 0);
            for pk in [&packed[..], &[]] {
                let mut plain = vec![f32::NAN; m * n];
                pointwise_into(&x, k, &w, pk, &b, Some(&res), &mut plain, n, false);
                let mut act = vec![f32::NAN; m * n];
                pointwise_into(&x, k, &w, pk, &b, None, &mut act, n, true);
                for i in 0..m {
                    for j in 0..n {
                        let want = direct(i, j);
                        let tol = 1e-4 * (1.0 + want.abs());
                        let got = plain[i * n + j];
                        assert!(
                            (got - want - res[i * n + j]).abs() < tol,
                            "{m}x{k}x{n} ({i},{j}) {got} vs {want}"
                        );
                        let got = act[i * n + j];
                        assert!(
                            (got - want.clamp(0.0, 6.0)).abs() < tol,
                            "{m}x{k}x{n} ({i},{j}) {got}"
                        );
                    }
                }
            }
        }
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
