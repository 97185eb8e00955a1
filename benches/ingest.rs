//! Ingest throughput: images decoded to the 224 px model input plus the thumbnail per
//! second, radcluster against the Python peer (`shared/bench/peer_ingest.py`), both on
//! 2 threads, in the same run, on the same folders; and the raw read floor (`cat` of the
//! same files to /dev/null).
//!
//! Run: `cargo bench --profile dev --bench ingest`
//! Env: `RADCLUSTER_BENCH_FILES` (default 10000; 0 skips it) sizes the copied folder, made
//! once in `/tmp/radcluster-ingest-<N>` from `../shared/dicom` with fresh SOP Instance UIDs;
//! `RADCLUSTER_BENCH_ROUNDS_SMALL` (default 5) and `RADCLUSTER_BENCH_ROUNDS` (default 3):
//! alternating rounds on `../shared/dicom` and on the copies; `PEER_PYTHON` (default
//! `/tmp/radcluster-bench-venv/bin/python`, made by `bash ../shared/bench/setup.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use radcluster::dicom::decode::{decode_cost, decode_file};
use radcluster::dicom::scan::scan_headers;
use radcluster::pipeline::par_map_costliest_first;
use radcluster::{Cancel, Progress};

const THREADS: usize = 2;

fn shared(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")).join(rel)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// Copy the files of `src` round-robin into `dst` until there are `n`, giving each DICOM
/// copy a fresh SOP Instance UID of the same length (patched in place, so the encoding
/// is untouched).
fn make_copies(src: &Path, dst: &Path, n: usize) -> std::io::Result<()> {
    if dst.exists() && files_under(dst).len() == n {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(dst);
    std::fs::create_dir_all(dst)?;
    let files = files_under(src);
    let originals: Vec<(Vec<u8>, Option<String>)> = files
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap_or_default();
            let uid = dicom_object::OpenFileOptions::new()
                .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
                .open_file(p)
                .ok()
                .and_then(|o| {
                    o.element(dicom_dictionary_std::tags::SOP_INSTANCE_UID)
                        .ok()
                        .and_then(|e| {
                            e.to_str()
                                .ok()
                                .map(|s| s.trim_end_matches('\0').to_string())
                        })
                });
            (bytes, uid)
        })
        .collect();
    for i in 0..n {
        let k = i % files.len();
        let (bytes, uid) = &originals[k];
        let mut out = bytes.clone();
        if let Some(uid) = uid.as_deref().filter(|u| u.len() >= 12) {
            let tail = format!("{}", 1_000_000 + i);
            let fresh = format!("{}{}", &uid[..uid.len() - tail.len()], tail);
            let (old, new) = (uid.as_bytes(), fresh.as_bytes());
            let mut at = 0;
            while let Some(pos) = out[at..].windows(old.len()).position(|w| w == old) {
                out[at + pos..at + pos + old.len()].copy_from_slice(new);
                at += pos + old.len();
            }
        }
        let name = files[k].file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(dst.join(format!("{i:05}_{name}")), out)?;
    }
    Ok(())
}

/// Seconds to `cat` every file under `dir` to /dev/null (page cache warm).
fn read_floor(dir: &Path) -> f64 {
    let cmd = format!(
        "find '{}' -type f -print0 | xargs -0 cat > /dev/null",
        dir.display()
    );
    let _ = Command::new("sh").arg("-c").arg(&cmd).status();
    let t = Instant::now();
    let _ = Command::new("sh").arg("-c").arg(&cmd).status();
    t.elapsed().as_secs_f64()
}

struct Ours {
    seconds: f64,
    scan_seconds: f64,
    images: usize,
    failed: usize,
}

/// Scan headers, then decode every image to model input + thumbnail, on `THREADS` threads.
fn run_ours(dir: &Path, pool: &rayon::ThreadPool) -> Ours {
    pool.install(|| {
        let t = Instant::now();
        let report = scan_headers(dir, &Progress::new(), &Cancel::new()).expect("scan");
        let scan_seconds = t.elapsed().as_secs_f64();
        // As `radcluster scan` does it (pipeline::scan).
        let ok: Vec<bool> = par_map_costliest_first(&report.images, decode_cost, |rec| {
            match decode_file(&rec.path) {
                Ok(d) => d.model_input.len() == 224 * 224 && d.thumbnail.width() > 0,
                Err(_) => false,
            }
        });
        let images = ok.iter().filter(|&&b| b).count();
        Ours {
            seconds: t.elapsed().as_secs_f64(),
            scan_seconds,
            images,
            failed: ok.len() - images,
        }
    })
}

struct Peer {
    seconds: f64,
    images: usize,
}

fn run_peer(dir: &Path) -> Option<Peer> {
    let py = std::env::var("PEER_PYTHON")
        .unwrap_or_else(|_| "/tmp/radcluster-bench-venv/bin/python".into());
    if !Path::new(&py).exists() {
        eprintln!("peer skipped: {py} not found (run `bash ../shared/bench/setup.sh`)");
        return None;
    }
    let out = Command::new(&py)
        .arg(shared("bench/peer_ingest.py"))
        .arg(dir)
        .args(["--threads", &THREADS.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(Peer {
        seconds: v["seconds"].as_f64()?,
        images: v["images_ok"].as_u64()? as usize,
    })
}

/// `rounds` alternating rounds (radcluster, then the peer) on `dir`: the machine's speed
/// drifts by tens of percent over minutes, so each round's pair is measured back to back
/// and the best of each side is compared, as well as every round's own ratio.
fn bench_folder(label: &str, dir: &Path, pool: &rayon::ThreadPool, rounds: usize) {
    let n_files = files_under(dir).len();
    let floor = read_floor(dir);
    // One untimed pass warms the page cache and the process for both sides alike.
    let _ = run_ours(dir, pool);
    println!("\n## {label}: {} ({n_files} files)", dir.display());
    println!("raw read floor (cat to /dev/null): {floor:.3} s\n");
    println!("| round | radcluster, scan + decode, {THREADS} threads | peer_ingest.py --threads {THREADS} | speed-up |");
    println!("|---|---|---|---|");
    // The best round of each side, as (images/s, seconds).
    let mut best_ours: Option<(f64, f64)> = None;
    let mut best_peer: Option<f64> = None;
    for round in 1..=rounds {
        let ours = run_ours(dir, pool);
        let peer = run_peer(dir);
        let ours_ips = ours.images as f64 / ours.seconds;
        let peer_ips = peer.as_ref().map(|p| p.images as f64 / p.seconds);
        let peer_cell = match (&peer, peer_ips) {
            (Some(p), Some(ips)) => {
                format!("{:.3} s, {} images, {ips:.1} images/s", p.seconds, p.images)
            }
            _ => "not run".into(),
        };
        let ratio = peer_ips
            .map(|ips| format!("{:.1}x", ours_ips / ips))
            .unwrap_or_default();
        println!(
            "| {round} | {:.3} s (scan {:.3} s), {} images ({} not decodable), {ours_ips:.1} images/s | {peer_cell} | {ratio} |",
            ours.seconds, ours.scan_seconds, ours.images, ours.failed
        );
        if best_ours.is_none_or(|(b, _)| ours_ips > b) {
            best_ours = Some((ours_ips, ours.seconds));
        }
        if let Some(ips) = peer_ips.filter(|&ips| best_peer.is_none_or(|b| ips > b)) {
            best_peer = Some(ips);
        }
    }
    if let Some((o, seconds)) = best_ours {
        println!(
            "\nbest radcluster round: **{o:.1} images/s**, {:.1}x the read floor's time",
            seconds / floor.max(1e-9)
        );
        if let Some(p) = best_peer {
            println!(
                "best peer round: **{p:.1} images/s**; best against best: **{:.1}x**",
                o / p
            );
        }
    }
}

/// The slowest files of `dir` to decode, one thread, best of three
/// (`RADCLUSTER_BENCH_PROFILE=1`; `RADCLUSTER_BENCH_TOP=N` lists N of them).
fn profile(dir: &Path) {
    let mut times: Vec<(f64, String)> = files_under(dir)
        .iter()
        .map(|p| {
            // Best of three (warm): the cost of the file itself, not of first touches.
            let mut best = f64::INFINITY;
            let mut ok = false;
            for _ in 0..3 {
                let t = Instant::now();
                ok = decode_file(p).is_ok();
                best = best.min(t.elapsed().as_secs_f64());
            }
            (
                best,
                format!("{} ({})", p.display(), if ok { "ok" } else { "error" }),
            )
        })
        .collect();
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    let scan = (0..3)
        .map(|_| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
            let t = Instant::now();
            let _ = pool.map(|p| p.install(|| scan_headers(dir, &Progress::new(), &Cancel::new())));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    println!("\nsingle-thread scan of the folder (best of 3): {scan:.3} s");
    let total: f64 = times.iter().map(|t| t.0).sum();
    println!("\nsingle-thread decode of every file (best of 3 each): {total:.3} s; slowest:");
    let top = std::env::var("RADCLUSTER_BENCH_TOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    for (t, name) in times.iter().take(top) {
        println!("  {:8.1} ms  {name}", t * 1e3);
    }
}

fn main() {
    if std::env::var_os("RADCLUSTER_BENCH_PROFILE").is_some() {
        profile(&shared("dicom"));
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("thread pool");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# ingest benchmark ({THREADS} threads each); load average at start: {}",
        load.trim()
    );
    let src = shared("dicom");
    let rounds = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    bench_folder(
        "shared/dicom",
        &src,
        &pool,
        rounds("RADCLUSTER_BENCH_ROUNDS_SMALL", 5),
    );
    let n: usize = std::env::var("RADCLUSTER_BENCH_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let copies = PathBuf::from(format!("/tmp/radcluster-ingest-{n}"));
    if n > 0 {
        let t = Instant::now();
        make_copies(&src, &copies, n).expect("make the copied folder");
        eprintln!("copied folder ready in {:.1} s", t.elapsed().as_secs_f64());
        bench_folder(
            &format!("{n} copies"),
            &copies,
            &pool,
            rounds("RADCLUSTER_BENCH_ROUNDS", 3),
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average at end: {}", load.trim());
}
