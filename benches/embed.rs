//! Image-embedding throughput of radcluster's EfficientNet-Lite0 against the onnxruntime
//! peer (`../shared/bench/peer_embed.py`), in the same run on the same images.
//!
//! ```text
//! cargo bench --profile dev --bench embed
//! ```
//! Environment:
//! - `RADCLUSTER_BENCH_IMAGES`: uint8 `[N, 224, 224]` `.npy` (e.g. from
//!   `peer_ingest.py ../dicom --out-npy`); default: 128 deterministic synthetic images,
//!   written to `$RADCLUSTER_BENCH_OUT/synthetic224.npy` so the peer reads the same ones.
//! - `RADCLUSTER_BENCH_OUT` (default `/tmp/radcluster-bench`), `BENCH_VENV` (default
//!   `/tmp/radcluster-bench-venv`), `RADCLUSTER_BENCH_ONNX` (default
//!   `$RADCLUSTER_BENCH_OUT/efficientnet_lite0.onnx`, from `make_onnx.py`),
//!   `RADCLUSTER_BENCH_REPEAT` (default 2), `RADCLUSTER_BENCH_THREADS` (default 2).
//!
//! Rounds alternate peer / radcluster three times; the best round of each is reported,
//! with every round listed. Prints one JSON line per round and a summary line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use radcluster::embed::{models_dir, ImageEncoder};

const SIZE: usize = 224;
const BATCH: usize = 32;

fn read_u8_npy(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "{}: not .npy", path.display());
    let (hl, off) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let h = std::str::from_utf8(&b[off..off + hl]).unwrap();
    assert!(
        h.contains("'|u1'") && h.contains("False"),
        "{}: need C-order uint8, header {h}",
        path.display()
    );
    let data = &b[off + hl..];
    assert_eq!(
        data.len() % (SIZE * SIZE),
        0,
        "{}: not [N, 224, 224]",
        path.display()
    );
    data.chunks_exact(SIZE * SIZE).map(<[u8]>::to_vec).collect()
}

fn write_u8_npy(path: &Path, imgs: &[Vec<u8>]) {
    let dict = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({}, {SIZE}, {SIZE}), }}",
        imgs.len()
    );
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&((dict.len() + pad + 1) as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend(std::iter::repeat_n(b' ', pad));
    b.push(b'\n');
    for im in imgs {
        b.extend_from_slice(im);
    }
    std::fs::write(path, b).unwrap();
}

fn read_f32_npy(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap();
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    b[10 + hl..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Smooth blobs, gradients and noise: image-like statistics, deterministic.
fn synthetic(n: usize) -> Vec<Vec<u8>> {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (cx, cy, r) = (rnd() * 224.0, rnd() * 224.0, 20.0 + rnd() * 80.0);
            let (gx, gy) = (rnd() - 0.5, rnd() - 0.5);
            (0..SIZE * SIZE)
                .map(|p| {
                    let (x, y) = ((p % SIZE) as f64, (p / SIZE) as f64);
                    let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
                    let v = 90.0
                        + 120.0 * (-(d / r).powi(2)).exp()
                        + 60.0 * (gx * x + gy * y) / 224.0
                        + 20.0 * rnd();
                    v.clamp(0.0, 255.0) as u8
                })
                .collect()
        })
        .collect()
}

fn run_ours(enc: &ImageEncoder, imgs: &[Vec<u8>], repeat: usize) -> (f64, Vec<f32>) {
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    enc.embed_gray(&refs[..BATCH.min(refs.len())]).unwrap(); // warm-up
    let t0 = Instant::now();
    let mut last = Vec::new();
    for _ in 0..repeat {
        last.clear();
        for chunk in refs.chunks(BATCH) {
            last.extend(enc.embed_gray(chunk).unwrap().data);
        }
    }
    (
        (imgs.len() * repeat) as f64 / t0.elapsed().as_secs_f64(),
        last,
    )
}

fn run_peer(
    py: &Path,
    npy: &Path,
    onnx: &Path,
    out: &Path,
    threads: usize,
    repeat: usize,
) -> Option<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/peer_embed.py");
    let mut cmd = Command::new(py);
    cmd.arg(&script).arg(npy).args([
        "--batch",
        &BATCH.to_string(),
        "--threads",
        &threads.to_string(),
    ]);
    cmd.args(["--repeat", &repeat.to_string()])
        .arg("--out")
        .arg(out);
    if onnx.exists() {
        cmd.arg("--onnx").arg(onnx);
    }
    let o = cmd.output().ok()?;
    if !o.status.success() {
        eprintln!("peer failed: {}", String::from_utf8_lossy(&o.stderr));
        return None;
    }
    let line = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last()?).ok()?;
    v["images_per_s"].as_f64()
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let out_dir = PathBuf::from(env("RADCLUSTER_BENCH_OUT", "/tmp/radcluster-bench"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let repeat: usize = env("RADCLUSTER_BENCH_REPEAT", "2").parse().unwrap();
    let threads: usize = env("RADCLUSTER_BENCH_THREADS", "2").parse().unwrap();
    let (npy, imgs) = match std::env::var("RADCLUSTER_BENCH_IMAGES") {
        Ok(p) => {
            let p = PathBuf::from(p);
            let imgs = read_u8_npy(&p);
            (p, imgs)
        }
        Err(_) => {
            let imgs = synthetic(128);
            let p = out_dir.join("synthetic224.npy");
            write_u8_npy(&p, &imgs);
            (p, imgs)
        }
    };
    let py = PathBuf::from(env("BENCH_VENV", "/tmp/radcluster-bench-venv")).join("bin/python");
    let onnx = PathBuf::from(env(
        "RADCLUSTER_BENCH_ONNX",
        &out_dir.join("efficientnet_lite0.onnx").to_string_lossy(),
    ));
    let peer_out = out_dir.join("peer_embed_features.npy");

    let t = Instant::now();
    let enc = ImageEncoder::load(&models_dir()).expect("load EfficientNet-Lite0");
    eprintln!(
        "model load {:.2} s; {} images from {}; rayon threads {}",
        t.elapsed().as_secs_f64(),
        imgs.len(),
        npy.display(),
        rayon::current_num_threads()
    );

    let (mut best_ours, mut best_peer) = (0f64, None::<f64>);
    let mut ours_feat = Vec::new();
    for round in 0..3 {
        let peer = if py.exists() {
            run_peer(&py, &npy, &onnx, &peer_out, threads, repeat)
        } else {
            None
        };
        let (ours, feat) = run_ours(&enc, &imgs, repeat);
        ours_feat = feat;
        best_ours = best_ours.max(ours);
        if let Some(p) = peer {
            best_peer = Some(best_peer.map_or(p, |b: f64| b.max(p)));
        }
        println!(
            "{}",
            serde_json::json!({"round": round, "radcluster_images_per_s": (ours * 10.0).round() / 10.0,
                               "onnxruntime_images_per_s": peer, "loadavg": load_avg()})
        );
    }
    let mut summary = serde_json::json!({
        "images": imgs.len(), "repeat": repeat, "batch": BATCH, "threads": threads,
        "radcluster_best_images_per_s": (best_ours * 10.0).round() / 10.0,
        "onnxruntime_best_images_per_s": best_peer,
    });
    if let Some(p) = best_peer {
        summary["ratio_radcluster_over_onnxruntime"] =
            serde_json::json!((best_ours / p * 1000.0).round() / 1000.0);
    }
    if peer_out.exists() {
        let theirs = read_f32_npy(&peer_out);
        if theirs.len() == ours_feat.len() {
            let cos: Vec<f64> = ours_feat
                .chunks_exact(1280)
                .zip(theirs.chunks_exact(1280))
                .map(|(a, b)| {
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
                    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                    dot / (na * nb).max(1e-30)
                })
                .collect();
            let min = cos.iter().copied().fold(1f64, f64::min);
            let mean = cos.iter().sum::<f64>() / cos.len() as f64;
            summary["cosine_vs_onnxruntime_min"] = serde_json::json!(min);
            summary["cosine_vs_onnxruntime_mean"] = serde_json::json!(mean);
        }
    }
    println!("{summary}");
}
