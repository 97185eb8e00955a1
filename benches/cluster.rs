//! Clustering and projection benchmark against the Python peers, in the same run and on
//! the same `.npy` inputs (written by `shared/bench/gen_blobs.py`).
//!
//! ```text
//! cargo bench --profile dev --bench cluster                 # kmeans, linfa, kmedoids, umap
//! cargo bench --profile dev --bench cluster -- kmeans umap  # a subset
//! cargo bench --profile dev --bench cluster -- umap-ours     # our UMAP alone, 3 runs
//! /usr/bin/time -v cargo bench --profile dev --bench cluster -- minibatch   # 1.3M x 256
//! ```
//! Environment: `RADCLUSTER_BENCH_DIR` (inputs, default /tmp/radcluster-bench),
//! `BENCH_PY` (default /tmp/radcluster-bench-venv/bin/python), `BENCH_THREADS` (peer
//! threads, default 2). Missing inputs are generated with gen_blobs.py.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use radcluster::cluster::metrics::label_scores;
use radcluster::cluster::{
    kmeans, kmeans_plusplus_centres, kmedoids, KmeansParams, KmedoidsParams,
};
use radcluster::projection::{trustworthiness, umap, UmapParams};
use radcluster::{Cancel, Matrix};

/// Reads a little-endian float32, C-order, 2-D `.npy` file (format versions 1-3).
fn read_npy_f32(path: &Path) -> Result<Matrix, String> {
    let err = |m: &str| format!("{}: {m}", path.display());
    let mut f = std::fs::File::open(path).map_err(|e| err(&e.to_string()))?;
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic).map_err(|e| err(&e.to_string()))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(err("not a .npy file"));
    }
    let hlen = if magic[6] == 1 {
        let mut b = [0u8; 2];
        f.read_exact(&mut b).map_err(|e| err(&e.to_string()))?;
        u16::from_le_bytes(b) as usize
    } else {
        let mut b = [0u8; 4];
        f.read_exact(&mut b).map_err(|e| err(&e.to_string()))?;
        u32::from_le_bytes(b) as usize
    };
    let mut h = vec![0u8; hlen];
    f.read_exact(&mut h).map_err(|e| err(&e.to_string()))?;
    let h = String::from_utf8_lossy(&h);
    if !h.contains("'descr': '<f4'") || !h.contains("'fortran_order': False") {
        return Err(err(&format!(
            "need little-endian float32 in C order, header is {h}"
        )));
    }
    let shape = h
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| err("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap_or(0))
        .collect();
    if dims.len() != 2 {
        return Err(err(&format!("need a 2-D array, shape is ({shape})")));
    }
    let mut bytes = Vec::with_capacity(dims[0] * dims[1] * 4);
    f.read_to_end(&mut bytes).map_err(|e| err(&e.to_string()))?;
    if bytes.len() != dims[0] * dims[1] * 4 {
        return Err(err("file is shorter than its shape"));
    }
    let data = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Matrix::from_vec(dims[0], dims[1], data))
}

/// Writes `[n, 2]` float32 `.npy`.
fn write_npy_2d(path: &Path, xy: &[[f32; 2]]) {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 2), }}",
        xy.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for p in xy {
        out.extend(p[0].to_le_bytes());
        out.extend(p[1].to_le_bytes());
    }
    std::fs::write(path, out).expect("write npy");
}

fn read_labels(path: &Path) -> (Vec<String>, Vec<String>) {
    let mut r = csv::Reader::from_path(path).expect("labels csv");
    let (mut m, mut a) = (Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.expect("csv row");
        m.push(rec.get(1).unwrap_or("").to_owned());
        a.push(rec.get(2).unwrap_or("").to_owned());
    }
    (m, a)
}

struct Env {
    dir: PathBuf,
    py: String,
    peer_dir: PathBuf,
    threads: String,
}

impl Env {
    fn input(&self, n: usize, d: usize) -> (PathBuf, PathBuf) {
        let tag = format!("{}k", n / 1000);
        let emb = self.dir.join(format!("blobs_{tag}_{d}.npy"));
        let lab = self.dir.join(format!("blobs_{tag}_{d}.csv"));
        if !emb.exists() || !lab.exists() {
            eprintln!("generating {}", emb.display());
            let ok = Command::new(&self.py)
                .current_dir(&self.peer_dir)
                .args([
                    "gen_blobs.py",
                    &n.to_string(),
                    &d.to_string(),
                    "--k",
                    "50",
                    "--seed",
                    "0",
                    "--out",
                ])
                .arg(&emb)
                .arg("--labels")
                .arg(&lab)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "gen_blobs.py failed (run bash shared/bench/setup.sh first)"
            );
        }
        (emb, lab)
    }

    /// `peer_cluster.py EMB --threads N ARGS...`, its JSON summary.
    fn peer_cluster(&self, emb: &Path, args: &[&str]) -> serde_json::Value {
        let emb = emb.to_str().expect("UTF-8 path");
        let mut all = vec!["peer_cluster.py", emb, "--threads", &self.threads];
        all.extend_from_slice(args);
        self.python(&all)
    }

    fn python(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(&self.py)
            .current_dir(&self.peer_dir)
            .env(
                "NUMBA_CACHE_DIR",
                std::env::temp_dir().join("radcluster-numba-cache"),
            )
            .args(args)
            .output()
            .expect("run the python peer");
        if !out.status.success() {
            panic!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or("{}");
        serde_json::from_str(last).expect("peer JSON")
    }
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn bench_kmeans(env: &Env, with_linfa: bool) {
    let (emb, lab) = env.input(100_000, 256);
    let x = read_npy_f32(&emb).expect("input");
    let (modality, _) = read_labels(&lab);
    // BENCH_SEEDS="0 1 2 3 4": both sides run once per seed (n_init = 1 each), since one
    // seeded k-means++ start against another is a draw between local minima.
    let seeds: Vec<u64> = std::env::var("BENCH_SEEDS")
        .unwrap_or_else(|_| "0".into())
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let (mut sum_t, mut sum_pt, mut sum_i, mut sum_pi) = (0f64, 0f64, 0f64, 0f64);
    let (mut pin, mut ps, mut ours_s) = (f64::NAN, f64::NAN, f64::NAN);
    for &seed in &seeds {
        println!(
            "## k-means 100000 x 256, k = 50, seed {seed} (load {})",
            load()
        );
        let t = Instant::now();
        let ours = kmeans(&x, &KmeansParams::new(50).seed(seed), &Cancel::new()).expect("kmeans");
        ours_s = secs(t);
        let s = label_scores(&modality, &ours.labels);
        println!(
            "radcluster kmeans: {ours_s:.2} s, {} iterations ({:.3} s/iter), inertia {:.6e}, v-measure {:.4}, AMI {:.4}",
            ours.iterations,
            ours_s / ours.iterations as f64,
            ours.objective,
            s.v_measure,
            s.ami
        );
        let seed_s = seed.to_string();
        let peer = env.peer_cluster(&emb, &["--k", "50", "--algo", "kmeans", "--seed", &seed_s]);
        let pk = &peer["kmeans"];
        let pi;
        (ps, pi, pin) = (
            pk["seconds"].as_f64().unwrap_or(f64::NAN),
            pk["inertia"].as_f64().unwrap_or(f64::NAN),
            pk["n_iter"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "sklearn KMeans: {ps:.2} s, {pin} iterations ({:.3} s/iter), inertia {pi:.6e}",
            ps / pin
        );
        println!(
            "RATIO kmeans time radcluster/sklearn = {:.3} (per iteration {:.3}); inertia ratio = {:.5}",
            ours_s / ps,
            (ours_s / ours.iterations as f64) / (ps / pin),
            ours.objective / pi
        );
        // Both from the same k-means++ centres: the inertias then differ only by how
        // each implementation iterates, not by the draw of the start.
        let c0 = kmeans_plusplus_centres(&x, 50, seed, &Cancel::new()).expect("init");
        let c0_path = env.dir.join(format!("kmeans_init_seed{seed}.npy"));
        radcluster::embed::npy::write_f32(&c0_path, &c0).expect("write centres");
        let t = Instant::now();
        let same = kmeans(&x, &KmeansParams::new(50).init(c0), &Cancel::new()).expect("kmeans");
        let same_s = secs(t);
        let q = env.python(&[
            "-c",
            KMEANS_SAME_START,
            emb.to_str().unwrap(),
            c0_path.to_str().unwrap(),
            &env.threads,
        ]);
        println!(
            "same start: radcluster {same_s:.2} s, {} iterations, inertia {:.6e}; sklearn {:.2} s, {} iterations, inertia {:.6e}; RATIO inertia {:.6}",
            same.iterations,
            same.objective,
            q["seconds"].as_f64().unwrap_or(f64::NAN),
            q["n_iter"],
            q["inertia"].as_f64().unwrap_or(f64::NAN),
            same.objective / q["inertia"].as_f64().unwrap_or(f64::NAN)
        );
        (sum_t, sum_pt, sum_i, sum_pi) = (
            sum_t + ours_s,
            sum_pt + ps,
            sum_i + ours.objective,
            sum_pi + pi,
        );
    }
    if seeds.len() > 1 {
        println!(
            "RATIO over {} seeds: total time radcluster/sklearn = {:.3}; mean inertia ratio = {:.5}",
            seeds.len(),
            sum_t / sum_pt,
            sum_i / sum_pi
        );
    }
    if with_linfa {
        use linfa::traits::Fit;
        let iters = (pin as u64).max(1);
        let arr = ndarray::Array2::from_shape_vec((x.rows, x.cols), x.data.clone()).expect("shape");
        let ds = linfa::DatasetBase::from(arr);
        let t = Instant::now();
        let m = linfa_clustering::KMeans::params(50)
            .n_runs(1)
            .max_n_iterations(iters)
            .tolerance(1e-4f32)
            .fit(&ds)
            .expect("linfa kmeans");
        let ls = secs(t);
        println!(
            "linfa-clustering KMeans (n_runs 1, at most {iters} iterations): {ls:.2} s, inertia {:.6e}",
            m.inertia()
        );
        println!(
            "RATIO linfa/sklearn = {:.3}; radcluster/linfa = {:.3}",
            ls / ps,
            ours_s / ls
        );
    }
}

fn bench_kmedoids(env: &Env) {
    let (emb, lab) = env.input(20_000, 64);
    let x = read_npy_f32(&emb).expect("input");
    let (modality, _) = read_labels(&lab);
    println!(
        "## FasterPAM 20000 x 64, k = 50, Euclidean (load {})",
        load()
    );
    let t = Instant::now();
    let ours = kmedoids(&x, &KmedoidsParams::new(50).seed(0), &Cancel::new()).expect("kmedoids");
    let ours_s = secs(t);
    let s = label_scores(&modality, &ours.labels);
    println!(
        "radcluster FasterPAM (distance matrix included): {ours_s:.2} s, {} passes, loss {:.6e}, v-measure {:.4}",
        ours.iterations, ours.objective, s.v_measure
    );
    let peer = env.peer_cluster(&emb, &["--k", "50", "--algo", "kmedoids"]);
    let pk = &peer["kmedoids"];
    let (pt, pl) = (
        pk["total_seconds"].as_f64().unwrap_or(f64::NAN),
        pk["loss"].as_f64().unwrap_or(f64::NAN),
    );
    println!(
        "kmedoids.fasterpam: {pt:.2} s total ({} s distances + {} s fasterpam), {} iterations, loss {pl:.6e}",
        pk["distance_matrix_seconds"], pk["seconds"], pk["n_iter"]
    );
    println!(
        "RATIO kmedoids time radcluster/kmedoids = {:.3}; loss ratio = {:.5}",
        ours_s / pt,
        ours.objective / pl
    );
}

/// sklearn's Lloyd from given starting centres (argv: data, centres, threads).
const KMEANS_SAME_START: &str = r#"
import sys, time, json, numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
x = np.ascontiguousarray(np.load(sys.argv[1]), dtype=np.float32)
c0 = np.load(sys.argv[2])
with threadpool_limits(limits=int(sys.argv[3])):
    t = time.perf_counter()
    km = KMeans(n_clusters=c0.shape[0], init=c0, n_init=1, algorithm="lloyd").fit(x)
    s = time.perf_counter() - t
print(json.dumps({"seconds": s, "inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}))
"#;

const UMAP_PEER: &str = r#"
import sys, time, numpy as np, umap
from sklearn.manifold import trustworthiness
x = np.ascontiguousarray(np.load(sys.argv[1]), dtype=np.float32)
idx = np.loadtxt(sys.argv[2], dtype=np.int64)
ours = np.load(sys.argv[3])
e = umap.UMAP(n_neighbors=15, n_components=2, random_state=0).fit_transform(x)
print('{"umap_learn_trust": %.6f, "ours_trust_sklearn": %.6f}' % (
    trustworthiness(x[idx], e[idx], n_neighbors=10), trustworthiness(x[idx], ours[idx], n_neighbors=10)))
"#;

fn bench_umap(env: &Env) {
    let (emb, _) = env.input(20_000, 64);
    let x = read_npy_f32(&emb).expect("input");
    println!("## UMAP 20000 x 64 (load {})", load());
    let t = Instant::now();
    let y = umap(&x, &UmapParams::default(), &Cancel::new()).expect("umap");
    let ours_s = secs(t);
    let sample_n = 2000;
    let tw = trustworthiness(&x, &y, 10, sample_n, 0);
    println!("radcluster UMAP: {ours_s:.2} s, trustworthiness(k=10, 2000-point sample) {tw:.4}");
    let peer = env.peer_cluster(&emb, &["--algo", "none", "--umap"]);
    let pu = &peer["umap"];
    let ps = pu["seconds"].as_f64().unwrap_or(f64::NAN);
    println!(
        "umap-learn (seeded): {ps:.2} s (+ {} s numba JIT warm-up, not counted)",
        pu["umap_jit_warmup_s"]
    );
    // Same sample for both maps: the seeded sample trustworthiness() draws.
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let mut idx = rand::seq::index::sample(&mut rng, x.rows, sample_n).into_vec();
    idx.sort_unstable();
    let idx_path = env.dir.join("umap_sample_idx.txt");
    std::fs::write(
        &idx_path,
        idx.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect("write idx");
    let ours_path = env.dir.join("umap_radcluster_20k.npy");
    write_npy_2d(&ours_path, &y);
    let q = env.python(&[
        "-c",
        UMAP_PEER,
        emb.to_str().unwrap(),
        idx_path.to_str().unwrap(),
        ours_path.to_str().unwrap(),
    ]);
    let pt = q["umap_learn_trust"].as_f64().unwrap_or(f64::NAN);
    println!(
        "umap-learn trustworthiness (same sample, sklearn) {pt:.4}; sklearn on our map {:.4} (ours computed {tw:.4})",
        q["ours_trust_sklearn"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "RATIO umap speed-up umap-learn/radcluster = {:.2}x; trustworthiness difference = {:+.4}",
        ps / ours_s,
        tw - pt
    );
}

fn bench_minibatch(env: &Env) {
    let (emb, lab) = env.input(1_300_000, 256);
    let t = Instant::now();
    let x = read_npy_f32(&emb).expect("input");
    let read_s = secs(t);
    let (modality, _) = read_labels(&lab);
    println!(
        "## mini-batch k-means 1300000 x 256, k = 50 (load {})",
        load()
    );
    let t = Instant::now();
    let c = kmeans(&x, &KmeansParams::new(50).seed(0), &Cancel::new()).expect("kmeans");
    let s = secs(t);
    let sc = label_scores(&modality, &c.labels);
    println!(
        "radcluster mini-batch k-means: {s:.2} s ({} steps of 4096; read {read_s:.1} s), inertia {:.6e}, v-measure {:.4}, peak RSS {:.0} MiB",
        c.iterations,
        c.objective,
        sc.v_measure,
        peak_rss_mib()
    );
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("radcluster=debug"))
        .init();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let env = Env {
        dir: std::env::var("RADCLUSTER_BENCH_DIR")
            .map_or_else(|_| PathBuf::from("/tmp/radcluster-bench"), PathBuf::from),
        py: std::env::var("BENCH_PY")
            .unwrap_or_else(|_| "/tmp/radcluster-bench-venv/bin/python".into()),
        peer_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench")),
        threads: std::env::var("BENCH_THREADS").unwrap_or_else(|_| "2".into()),
    };
    std::fs::create_dir_all(&env.dir).expect("bench dir");
    let all = args.is_empty();
    let all = all && !args.iter().any(|a| a == "profile");
    let want = |m: &str| all || args.iter().any(|a| a == m);
    println!("rayon threads: {}", rayon::current_num_threads());
    if want("kmeans") || want("linfa") {
        bench_kmeans(&env, want("linfa"));
    }
    if args.iter().any(|a| a == "profile") {
        let (emb, _) = env.input(100_000, 256);
        let x = read_npy_f32(&emb).expect("input");
        for it in [1, 2, 6] {
            let t = Instant::now();
            let c = kmeans(
                &x,
                &KmeansParams::new(50).seed(0).max_iter(it),
                &Cancel::new(),
            )
            .expect("kmeans");
            println!(
                "max_iter {it}: {:.2} s ({} iterations)",
                secs(t),
                c.iterations
            );
        }
    }
    if want("kmedoids") {
        bench_kmedoids(&env);
    }
    if want("umap") {
        bench_umap(&env);
    }
    if args.iter().any(|a| a == "umap-ours") {
        // radcluster's UMAP alone, three times: for profiling without the peer.
        let (emb, _) = env.input(20_000, 64);
        let x = read_npy_f32(&emb).expect("input");
        for _ in 0..3 {
            let t = Instant::now();
            let y = umap(&x, &UmapParams::default(), &Cancel::new()).expect("umap");
            let tw = trustworthiness(&x, &y, 10, 2000, 0);
            println!("radcluster UMAP: {:.2} s, trustworthiness {tw:.4}", secs(t));
        }
    }
    if args.iter().any(|a| a == "minibatch") {
        bench_minibatch(&env);
    }
}
