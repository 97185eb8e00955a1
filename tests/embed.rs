//! Embedding acceptance tests against the shipped models and the upstream references in
//! ../shared/models: ImageNet parity of EfficientNet-Lite0, MiniLM parity of the float16
//! weights, and the cache behaviour of `embed_all`.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use radcluster::dicom::InstanceRecord;
use radcluster::embed::{
    self, image::ImageEncoder, write_outputs, EmbedConfig, EmbeddingCache, TextEncoder, TextModel,
};
use radcluster::{Cancel, Progress};

const SHARED_MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models");

fn models() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

fn json(path: &str) -> serde_json::Value {
    let p = Path::new(SHARED_MODELS).join(path);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// ImageNet preprocessing exactly as Pillow does it (the reference outputs were made with
// Pillow): `resize(shorter side -> 256, BICUBIC)` with its fixed-point 8-bit arithmetic,
// horizontal pass first, then a 224 centre crop.

fn pil_bicubic(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output index: (first input index, fixed-point weights).
fn pil_coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| pil_bicubic((x as f64 - center + 0.5) * ss))
                .collect();
            let sum: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|v| {
                    let v = if sum != 0.0 { v / sum } else { *v };
                    let f = v * (1u32 << PRECISION_BITS) as f64;
                    if v < 0.0 {
                        (-0.5 + f) as i32
                    } else {
                        (0.5 + f) as i32
                    }
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow-exact bicubic resize of an RGB8 image.
fn pil_resize(src: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    let hc = pil_coeffs(w, ow);
    let mut tmp = vec![0u8; ow * h * 3];
    for y in 0..h {
        for (x, (x0, k)) in hc.iter().enumerate() {
            for c in 0..3 {
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (i, kv) in k.iter().enumerate() {
                    ss += src[(y * w + x0 + i) * 3 + c] as i32 * kv;
                }
                tmp[(y * ow + x) * 3 + c] = clip8(ss);
            }
        }
    }
    let vc = pil_coeffs(h, oh);
    let mut out = vec![0u8; ow * oh * 3];
    for (y, (y0, k)) in vc.iter().enumerate() {
        for x in 0..ow {
            for c in 0..3 {
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (i, kv) in k.iter().enumerate() {
                    ss += tmp[((y0 + i) * ow + x) * 3 + c] as i32 * kv;
                }
                out[(y * ow + x) * 3 + c] = clip8(ss);
            }
        }
    }
    out
}

/// Decode a JPEG to RGB8 with libjpeg-turbo's defaults (accurate integer IDCT, fancy
/// upsampling), as Pillow does; other decoders differ by a few grey levels, which moves
/// the pooled features by about 1e-2.
fn decode_jpeg_rgb(path: &Path) -> (Vec<u8>, usize, usize) {
    use std::os::raw::c_int;
    use turbojpeg_sys as tj;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: TurboJPEG 3 API: a valid handle, the input with its true length, and an
    // output buffer sized from the parsed header; the handle is destroyed once.
    unsafe {
        let h = tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as c_int);
        assert!(!h.is_null());
        assert_eq!(
            tj::tj3DecompressHeader(h, data.as_ptr(), data.len() as _),
            0,
            "{}",
            path.display()
        );
        let w = tj::tj3Get(h, tj::TJPARAM_TJPARAM_JPEGWIDTH as c_int) as usize;
        let ht = tj::tj3Get(h, tj::TJPARAM_TJPARAM_JPEGHEIGHT as c_int) as usize;
        let mut buf = vec![0u8; w * ht * 3];
        let rc = tj::tj3Decompress8(
            h,
            data.as_ptr(),
            data.len() as _,
            buf.as_mut_ptr(),
            0,
            tj::TJPF_TJPF_RGB as c_int,
        );
        tj::tj3Destroy(h);
        assert_eq!(rc, 0, "{}: decode failed", path.display());
        (buf, w, ht)
    }
}

/// `(1, 3, 224, 224)` tensor of `(pixel - 127) / 128` after the ImageNet resize and crop.
fn imagenet_input(path: &Path) -> Tensor {
    let (rgb, w, h) = decode_jpeg_rgb(path);
    let sc = 256.0 / w.min(h) as f64;
    let (rw, rh) = (
        ((w as f64) * sc).round_ties_even() as usize,
        ((h as f64) * sc).round_ties_even() as usize,
    );
    let resized = pil_resize(&rgb, w, h, rw, rh);
    let (x0, y0) = ((rw - 224) / 2, (rh - 224) / 2);
    let mut nchw = vec![0f32; 3 * 224 * 224];
    for y in 0..224 {
        for x in 0..224 {
            for c in 0..3 {
                let p = resized[((y0 + y) * rw + x0 + x) * 3 + c] as f32;
                nchw[c * 224 * 224 + y * 224 + x] = (p - 127.0) / 128.0;
            }
        }
    }
    Tensor::from_vec(nchw, (1, 3, 224, 224), &Device::Cpu).unwrap()
}

fn rel_l2(a: &[f32], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den
}

#[test]
fn image_parity_imagenet_dog_and_eagle() {
    let enc = ImageEncoder::load(&models()).expect("shipped EfficientNet-Lite0 weights");
    let reference = json("efficientnet-lite0/efficientnet_lite0_reference.json");
    let refs = reference["images"].as_object().unwrap();
    for (file, top1) in [("dog.jpg", "malamute"), ("eagle.jpg", "kite")] {
        let (_, want) = refs
            .iter()
            .find(|(k, _)| k.starts_with(file))
            .expect("reference entry");
        let x = imagenet_input(&Path::new(SHARED_MODELS).join("reference-images").join(file));
        let (feat, logits) = enc.forward_rgb(&x).unwrap();
        let feat: Vec<f32> = feat.flatten_all().unwrap().to_vec1().unwrap();
        let logits: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
        let best = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap();
        assert_eq!(
            best as u64,
            want["top5"][0][0].as_u64().unwrap(),
            "{file}: top-1 must be {top1}"
        );
        assert_eq!(want["top5"][0][1], top1);

        let first8: Vec<f64> = want["feat_first8"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let err8 = rel_l2(&feat[..8], &first8);
        let norm = feat.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let want_norm = want["feat_l2"].as_f64().unwrap();
        let err_norm = (norm - want_norm).abs() / want_norm;
        eprintln!("{file}: first8 {:?}, rel err {err8:.2e}; L2 {norm:.4} vs {want_norm}, rel err {err_norm:.2e}", &feat[..8]);
        assert!(
            err8 < 1e-3,
            "{file}: first 8 features off by {err8:.2e} relative"
        );
        assert!(
            err_norm < 1e-3,
            "{file}: feature norm off by {err_norm:.2e} relative"
        );
    }
}

#[test]
fn gray_path_matches_replicated_rgb() {
    let enc = ImageEncoder::load(&models()).unwrap();
    let img: Vec<u8> = (0..224 * 224)
        .map(|i| ((i % 224) as u32 * 255 / 223) as u8 ^ ((i / 224) as u8 & 0x30))
        .collect();
    let gray = enc.embed_gray(&[&img]).unwrap();
    let x: Vec<f32> = (0..3)
        .flat_map(|_| img.iter().map(|&p| (p as f32 - 127.0) / 128.0))
        .collect();
    let (rgb, _) = enc
        .forward_rgb(&Tensor::from_vec(x, (1, 3, 224, 224), &Device::Cpu).unwrap())
        .unwrap();
    let rgb: Vec<f32> = rgb.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(gray.cols, 1280);
    let d: f32 = gray
        .row(0)
        .iter()
        .zip(&rgb)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f32>()
        .sqrt();
    let n: f32 = rgb.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(
        n > 1.0 && d / n < 1e-4,
        "grey stem folding differs: {}",
        d / n
    );
    assert!(
        enc.embed_gray(&[&img[..100]]).is_err(),
        "wrong-sized input is an error"
    );
}

#[test]
fn wrong_weight_file_is_named_with_expected_hash() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(embed::image::WEIGHTS_FILE);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"not weights").unwrap();
    let err = ImageEncoder::load(dir.path())
        .err()
        .expect("must refuse")
        .to_string();
    assert!(
        err.contains("efficientnet_lite0.safetensors")
            && err.contains(embed::image::WEIGHTS_SHA256),
        "{err}"
    );
}

fn cos(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn text_parity_minilm_f16() {
    let enc = TextEncoder::load(TextModel::MiniLm, &models()).expect("shipped MiniLM");
    let reference = json("all-MiniLM-L6-v2/reference.json");
    let refs = reference.as_object().unwrap();
    let texts: Vec<String> = refs.keys().cloned().collect();
    assert_eq!(texts.len(), 7);
    // Embedded together (batched, padded, masked) and each alone: both must match.
    let together = enc.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let want: Vec<f32> = refs[t]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let alone = enc.embed(std::slice::from_ref(t)).unwrap();
        let (c1, c2) = (cos(together.row(i), &want), cos(alone.row(0), &want));
        eprintln!("{t:?}: cosine {c1:.7} (batched) {c2:.7} (alone)");
        assert!(c1 >= 0.9999 && c2 >= 0.9999, "{t:?}: cosine {c1} / {c2}");
        let norm: f32 = together.row(i).iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    let pair = |a: &str, b: &str| {
        let m = enc.embed(&[a.to_string(), b.to_string()]).unwrap();
        cos(m.row(0), m.row(1))
    };
    assert!(
        (pair("A man is eating food.", "A man is eating a piece of bread.") - 0.755).abs() < 0.01
    );
    assert!((pair("A man is eating food.", "The new movie is awesome") + 0.040).abs() < 0.01);
}

// ---------------------------------------------------------------------------------------
// embed_all and its cache.

fn synthetic(i: usize) -> Vec<u8> {
    (0..224 * 224)
        .map(|p| ((p % 224) * (i + 1) + (p / 224) * 3 * i) as u8)
        .collect()
}

fn records(dir: &Path, n: usize) -> Vec<InstanceRecord> {
    (0..n)
        .map(|i| InstanceRecord {
            path: dir.join(format!("img{i}.dcm")),
            sop_instance_uid: format!("1.2.3.{i}"),
            study_instance_uid: format!("1.2.{}", i % 2),
            modality: if i % 2 == 0 { "CT" } else { "MR" }.into(),
            series_description: Some(if i % 2 == 0 { "CT HEAD" } else { "MR KNEE T1" }.into()),
            rows: 224,
            cols: 224,
            frames: 1,
            kvp: (i % 2 == 0).then_some(100.0 + i as f64),
            photometric_interpretation: "MONOCHROME2".into(),
            file_size: 1000 + i as u64,
            mtime: 1_700_000_000,
            ..Default::default()
        })
        .collect()
}

fn cfg() -> EmbedConfig {
    EmbedConfig {
        text_model: TextModel::NGram,
        batch: 2,
        models_dir: models(),
        ..Default::default()
    }
}

#[test]
fn rerun_embeds_only_new_files_and_corrupt_cache_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let (p, c) = (Progress::new(), Cancel::new());
    let input = |i: usize| Some(synthetic(i));

    let recs = records(tmp.path(), 3);
    let first = embed::embed_all(&recs, input, &cfg(), &cache_dir, &p, &c).unwrap();
    assert_eq!((first.stats.model_calls, first.stats.cache_hits), (3, 0));
    assert_eq!((first.image.rows, first.image.cols), (3, 1280));
    assert_eq!(first.text.rows, 3);
    assert_eq!(first.fused.rows, 3);

    // Unchanged: no model work at all, same vectors.
    let again = embed::embed_all(&recs, input, &cfg(), &cache_dir, &p, &c).unwrap();
    assert_eq!((again.stats.model_calls, again.stats.cache_hits), (0, 3));
    assert_eq!(again.image, first.image);

    // One file added, one touched (new mtime): exactly those two are embedded.
    let mut recs4 = records(tmp.path(), 4);
    recs4[1].mtime += 1;
    let added = embed::embed_all(&recs4, input, &cfg(), &cache_dir, &p, &c).unwrap();
    assert_eq!((added.stats.model_calls, added.stats.cache_hits), (2, 2));
    assert_eq!(added.image.row(0), first.image.row(0));

    // A corrupt cache file is rebuilt, never trusted: every record carries its own
    // checksum, so the damaged one and those after it are embedded again; the ones
    // before it passed their checksums and are reused.
    let file = cache_dir.join(embed::cache::CACHE_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let rebuilt = embed::embed_all(&recs4, input, &cfg(), &cache_dir, &p, &c).unwrap();
    let (calls, hits) = (rebuilt.stats.model_calls, rebuilt.stats.cache_hits);
    assert_eq!(calls + hits, 4);
    assert!(calls >= 2, "the damaged record and those after it: {calls}");
    let max_diff = rebuilt
        .image
        .data
        .iter()
        .zip(&added.image.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        max_diff < 1e-4,
        "rebuilt embeddings must equal the first ones: {max_diff}"
    );
    // Saved again after the rebuild: a further run does no model work.
    let after = embed::embed_all(&recs4, input, &cfg(), &cache_dir, &p, &c).unwrap();
    assert_eq!((after.stats.model_calls, after.stats.cache_hits), (0, 4));
    assert!(EmbeddingCache::open(&cache_dir).len() >= 4);

    // A garbage file (no valid header) is discarded whole.
    std::fs::write(&file, b"not a cache").unwrap();
    let again = embed::embed_all(&recs4, input, &cfg(), &cache_dir, &p, &c).unwrap();
    assert_eq!((again.stats.model_calls, again.stats.cache_hits), (4, 0));
}

#[test]
fn undecodable_image_keeps_its_row_and_outputs_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(tmp.path(), 3);
    let input = |i: usize| (i != 1).then(|| synthetic(i));
    let emb = embed::embed_all(
        &recs,
        input,
        &cfg(),
        &tmp.path().join("cache"),
        &Progress::new(),
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(emb.image_missing, vec![1]);
    assert_eq!(emb.image.rows, 3);
    assert!(emb.image.row(1).iter().all(|v| *v == 0.0));
    assert!(emb.image.row(2).iter().any(|v| *v != 0.0));

    let out = tmp.path().join("out");
    write_outputs(&out, &emb, &recs).unwrap();
    for name in ["image", "meta", "text", "fused"] {
        let b = std::fs::read(out.join(format!("embeddings_{name}.npy"))).unwrap();
        assert_eq!(&b[..6], b"\x93NUMPY");
    }
    let index = std::fs::read_to_string(out.join("index.csv")).unwrap();
    assert_eq!(index.lines().count(), 4);
    assert!(index.starts_with("row,path,sop_instance_uid,modality,anatomy"));
    let features: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("features.json")).unwrap()).unwrap();
    assert_eq!(features["image"]["dim"], 1280);
    assert_eq!(
        features["meta"]["features"].as_array().unwrap().len(),
        emb.meta.cols
    );
}

#[test]
fn fused_built_in_place_equals_the_fused_of_the_kept_sources() {
    use radcluster::pipeline::Weights;
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let (p, c) = (Progress::new(), Cancel::new());
    let recs = records(tmp.path(), 4);
    // Row 2 fails to decode: its image block stays zero in both layouts.
    let input = |i: usize| (i != 2).then(|| synthetic(i));
    for weights in [
        Weights::default(),
        Weights {
            image: 0.0,
            meta: 1.0,
            text: 2.0,
        },
        Weights {
            image: 1.5,
            meta: 0.0,
            text: 0.0,
        },
    ] {
        let mut conf = cfg();
        conf.weights = weights;
        let kept = embed::embed_all(&recs, input, &conf, &cache_dir, &p, &c).unwrap();
        assert_eq!(
            kept.fused,
            embed::fuse(&kept.image, &kept.meta, &kept.text, weights, None)
        );
        conf.keep_sources = false;
        let lean = embed::embed_all(&recs, input, &conf, &cache_dir, &p, &c).unwrap();
        assert_eq!(lean.fused, kept.fused, "{weights:?}");
        assert_eq!(lean.image_missing, vec![2]);
        assert_eq!((lean.image.rows, lean.meta.rows, lean.text.rows), (0, 0, 0));
        assert_eq!(lean.meta_features, kept.meta_features);
    }
}
