//! Header attributes that vary the way real archives do: descriptions in several forms
//! and languages, BodyPartExamined on about 30 % of files with varied spellings, optional
//! windows, and plausible acquisition parameters per modality.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::classes::{ClassSpec, Kind};
use super::phantom::StoredImage;
use super::rng::Rng;

/// Who and what one file belongs to; the RNGs are seeded per patient, study, series and file.
pub(crate) struct Context<'a> {
    pub spec: &'a ClassSpec,
    pub modality: &'static str,
    pub patient_id: String,
    pub patient_no: u32,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub frame_of_reference_uid: String,
    pub study_no: u32,
    pub series_number: u32,
    pub instance_number: u32,
    /// Position of this instance in its series, 0..1.
    pub z: f32,
    pub patient: Rng,
    pub study: Rng,
    pub series: Rng,
    pub file: Rng,
}

fn study_texts(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::CtHead => &[
            "CT HEAD W/O",
            "CT HEAD WO CONTRAST",
            "CT glave",
            "CT glave nativno",
            "Schädel nativ",
            "CCT nativ",
            "HEAD ROUTINE",
            "CT Kopf",
            "MSCT mozga",
        ],
        Kind::CtChest => &[
            "CT THORAX",
            "CT CHEST W/CONTRAST",
            "CT toraksa",
            "Thorax KM",
            "CT prsnog koša",
            "THORAX ROUTINE",
            "CT Lunge",
            "CHEST HRCT",
        ],
        Kind::CtAbdomen => &[
            "CT ABDOMEN",
            "CT ABD/PEL W",
            "CT abdomena",
            "Abdomen KM pv",
            "CT trbuha",
            "ABDOMEN VENOUS",
            "Oberbauch KM",
        ],
        Kind::CtPelvis => &[
            "CT PELVIS",
            "CT zdjelice",
            "Becken nativ",
            "PELVIS W/O",
            "CT Becken",
            "CT male zdjelice",
        ],
        Kind::MrBrainT1 | Kind::MrBrainT2 => &[
            "MR BRAIN",
            "MR glave",
            "MRT Schädel",
            "MRI HEAD W/WO",
            "MR mozga",
            "Kopf MRT nativ",
            "NEURO^HEAD",
        ],
        Kind::MrKnee => &[
            "MR KNEE",
            "MR koljena",
            "MRT Knie re",
            "MRT Knie li",
            "MRI KNEE W/O",
            "MR desnog koljena",
        ],
        Kind::MrLspine => &[
            "MR L-SPINE",
            "MR LS kralježnice",
            "MRT LWS",
            "MRI LUMBAR SPINE",
            "MR lumbalne kralježnice",
            "LWS MRT",
        ],
        Kind::XrChestPa => &[
            "Thorax pa",
            "RTG pluća",
            "CHEST PA",
            "Thorax p.a. stehend",
            "RTG srca i pluća",
            "PA CHEST",
            "XR CHEST 2V",
            "Rö Thorax",
        ],
        Kind::XrHand => &[
            "Hand dv",
            "RTG šake",
            "HAND 2 VIEWS",
            "Hand re. d.p.",
            "RTG lijeve šake",
            "XR HAND LT",
            "Rö Hand",
        ],
        Kind::XrKnee => &[
            "Knie ap",
            "RTG koljena",
            "KNEE AP/LAT",
            "Kniegelenk re",
            "XR KNEE 3V",
            "RTG desnog koljena",
        ],
        Kind::XrPelvis => &[
            "Becken ap",
            "RTG zdjelice",
            "PELVIS AP",
            "Beckenübersicht",
            "XR PELVIS 1V",
            "RTG kukova",
        ],
        Kind::UsAbdomen => &[
            "US ABDOMEN",
            "UZV abdomena",
            "Sono Abdomen",
            "ABDOMEN COMPLETE",
            "Oberbauchsonographie",
            "UZV gornjeg abdomena",
        ],
        Kind::MgBreast => &[
            "MAMMOGRAPHY BILATERAL",
            "Mammographie",
            "MMG obostrano",
            "SCREENING MAMMO",
            "Mamografija",
            "MG DIAG BIL",
        ],
        Kind::NmWholeBody => &[
            "NM WHOLE BODY BONE",
            "Scintigrafija skeleta",
            "Skelettszintigraphie",
            "WB BONE SCAN",
            "Ganzkörper Szinti",
            "Scintigrafija kostiju",
        ],
        Kind::XaCoronary => &[
            "CORONARY ANGIO",
            "Koronarografija",
            "Koronarangiographie",
            "LHC CORONARY",
            "Herzkatheter",
            "CATH LAB CORO",
        ],
    }
}

fn series_texts(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::CtHead => &[
            "AXIAL 5mm",
            "H30s 5.0",
            "Head 4.0 J40s",
            "Brain STD",
            "Kopf 5mm",
            "HEAD SEQ",
        ],
        Kind::CtChest => &[
            "Lung 1.25mm",
            "B70f Lunge",
            "Thorax 3.0 B31f",
            "MEDIASTINUM",
            "Chest STD",
            "Lunge HR",
        ],
        Kind::CtAbdomen => &[
            "Abd 5.0 B30f",
            "PORTAL VENOUS",
            "Abdomen 3mm",
            "venös",
            "ABD STD",
        ],
        Kind::CtPelvis => &["Pelvis 5.0", "Becken 3mm", "PELVIS STD", "B30f 5.0"],
        Kind::MrBrainT1 => &[
            "t1_se_tra",
            "T1 AX",
            "T1W_SE",
            "ax T1",
            "t1_tse_tra",
            "T1 SE TRA",
        ],
        Kind::MrBrainT2 => &[
            "t2_tse_tra",
            "T2 AX",
            "T2W_TSE",
            "ax T2",
            "T2 TSE TRA",
            "t2_tse_tra_512",
        ],
        Kind::MrKnee => &[
            "pd_tse_sag",
            "PD SAG",
            "t1_tse_sag",
            "SAG PD FS",
            "pd_tse_fs_sag",
        ],
        Kind::MrLspine => &[
            "t2_tse_sag",
            "T2 SAG",
            "SAG T2 TSE",
            "LWS sag T2",
            "t2_tse_sag_384",
        ],
        Kind::XrChestPa => &["PA", "Thorax pa", "CHEST PA", "p.a.", "Chest"],
        Kind::XrHand => &["PA", "d.p.", "Hand", "HAND PA", "dorzopalmarno"],
        Kind::XrKnee => &["AP", "a.p.", "KNEE AP", "Knie ap", "ap"],
        Kind::XrPelvis => &["AP", "Becken ap", "PELVIS AP", "a.p."],
        Kind::UsAbdomen => &["Abdomen", "ABD", "Liver", "Leber", "jetra", "RUQ"],
        Kind::MgBreast => &["R CC", "L CC", "R MLO", "L MLO", "RCC", "LMLO"],
        Kind::NmWholeBody => &[
            "WB ANT/POST",
            "Whole Body",
            "Ganzkörper",
            "WB 10cm/min",
            "ANT_POST",
        ],
        Kind::XaCoronary => &[
            "LCA LAO 30",
            "RCA LAO 45",
            "LCA RAO 30 CAU 25",
            "Coro",
            "LAO CRA",
        ],
    }
}

/// Uninformative texts real archives are full of.
const VAGUE: &[&str] = &["ROUTINE", "Protokoll 1", "Emergency", "HITNO", "Study", "1"];

fn body_parts(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::CtHead | Kind::MrBrainT1 | Kind::MrBrainT2 => &[
            "HEAD", "Head", "BRAIN", "SKULL", "KOPF", "Schaedel", "GLAVA",
        ],
        Kind::CtChest | Kind::XrChestPa => {
            &["CHEST", "THORAX", "Thorax", "LUNG", "chest", "TORAKS"]
        }
        Kind::CtAbdomen | Kind::UsAbdomen => &["ABDOMEN", "Abdomen", "ABD", "ABDOMEN ", "TRBUH"],
        Kind::CtPelvis | Kind::XrPelvis => &["PELVIS", "Pelvis", "BECKEN", "HIP", "ZDJELICA"],
        Kind::MrKnee | Kind::XrKnee => &["KNEE", "Knee", "KNIE", "KOLJENO", "EXTREMITY"],
        Kind::MrLspine => &["LSPINE", "L-SPINE", "LUMBAR SPINE", "LWS", "SPINE"],
        Kind::XrHand => &["HAND", "Hand", "SAKA", "HAND LT", "EXTREMITY"],
        Kind::MgBreast => &["BREAST", "Breast", "MAMMA", "BRUST"],
        Kind::NmWholeBody => &["WHOLEBODY", "WHOLE BODY", "Ganzkoerper", "WB", "SKELETON"],
        Kind::XaCoronary => &["HEART", "CHEST", "CORONARY ARTERY", "Herz", "SRCE"],
    }
}

fn manufacturers(modality: &str) -> &'static [(&'static str, &'static str)] {
    match modality {
        "CT" => &[
            ("SIEMENS", "SOMATOM Definition AS"),
            ("GE MEDICAL SYSTEMS", "LightSpeed VCT"),
            ("Philips", "Brilliance 64"),
            ("TOSHIBA", "Aquilion"),
            ("Canon Medical Systems", "Aquilion ONE"),
        ],
        "MR" => &[
            ("SIEMENS", "Avanto"),
            ("SIEMENS", "Skyra"),
            ("GE MEDICAL SYSTEMS", "SIGNA HDxt"),
            ("Philips Medical Systems", "Ingenia"),
            ("Philips Medical Systems", "Achieva"),
        ],
        "CR" => &[
            ("Agfa", "CR 85-X"),
            ("FUJIFILM Corporation", "FCR PROFECT"),
            ("KODAK", "CR 975"),
            ("Carestream Health", "Vita XG"),
        ],
        "DX" => &[
            ("SIEMENS", "Ysio"),
            ("Philips Medical Systems", "DigitalDiagnost"),
            ("Carestream Health", "DRX-Evolution"),
            ("GE Healthcare", "Definium 6000"),
        ],
        "US" => &[
            ("GE Healthcare", "LOGIQ E9"),
            ("Philips Medical Systems", "iU22"),
            ("SIEMENS", "ACUSON S2000"),
            ("TOSHIBA_MEC_US", "Aplio 500"),
        ],
        "MG" => &[
            ("HOLOGIC, Inc.", "Selenia Dimensions"),
            ("SIEMENS", "Mammomat Inspiration"),
            ("GE MEDICAL SYSTEMS", "Senographe Essential"),
            ("FUJIFILM Corporation", "AMULET Innovality"),
        ],
        "NM" => &[
            ("SIEMENS NM", "Symbia T2"),
            ("GE MEDICAL SYSTEMS", "Infinia"),
            ("Philips", "BrightView"),
        ],
        _ => &[
            ("SIEMENS", "AXIOM-Artis"),
            ("Philips Medical Systems", "Allura Xper FD10"),
            ("GE Healthcare", "Innova 2100"),
        ],
    }
}

/// SOP Class UID for a modality (multi-frame US uses the multi-frame class).
pub(crate) fn sop_class(modality: &str, frames: u32) -> &'static str {
    match modality {
        "CT" => "1.2.840.10008.5.1.4.1.1.2",
        "MR" => "1.2.840.10008.5.1.4.1.1.4",
        "CR" => "1.2.840.10008.5.1.4.1.1.1",
        "DX" => "1.2.840.10008.5.1.4.1.1.1.1",
        "US" if frames > 1 => "1.2.840.10008.5.1.4.1.1.3.1",
        "US" => "1.2.840.10008.5.1.4.1.1.6.1",
        "MG" => "1.2.840.10008.5.1.4.1.1.1.2",
        "NM" => "1.2.840.10008.5.1.4.1.1.20",
        _ => "1.2.840.10008.5.1.4.1.1.12.1",
    }
}

/// Vary case and spacing the way different sites type.
fn styled(rng: &mut Rng, s: &str) -> String {
    match rng.below(6) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        _ => s.to_owned(),
    }
}

fn text(rng: &mut Rng, pool: &[&str]) -> Option<String> {
    let r = rng.f32();
    if r < 0.08 {
        None
    } else if r < 0.14 {
        Some(rng.pick(VAGUE).to_string())
    } else {
        let s = *rng.pick(pool);
        Some(styled(rng, s))
    }
}

fn ds(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_owned()
    }
}

struct Put<'o>(&'o mut InMemDicomObject);

impl Put<'_> {
    fn s(&mut self, tag: Tag, vr: VR, v: impl Into<String>) {
        self.0
            .put(DataElement::new(tag, vr, PrimitiveValue::from(v.into())));
    }
    fn multi(&mut self, tag: Tag, vr: VR, vs: &[String]) {
        self.0.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::Strs(vs.iter().cloned().collect()),
        ));
    }
    fn us(&mut self, tag: Tag, v: u16) {
        self.0
            .put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    fn ds(&mut self, tag: Tag, v: f64) {
        self.s(tag, VR::DS, ds(v));
    }
}

/// Fill every attribute except Pixel Data.
pub(crate) fn fill(obj: &mut InMemDicomObject, cx: &mut Context<'_>, img: &StoredImage) {
    let kind = cx.spec.kind;
    let modality = cx.modality;
    let mut p = Put(obj);

    // Patient: obviously synthetic.
    let pr = &mut cx.patient;
    let year = pr.int(1935, 2010);
    let sex = *pr.pick(&["M", "F", "F", "M", "O"]);
    p.s(
        tags::PATIENT_NAME,
        VR::PN,
        format!("PHANTOM^SYNTH{:05}", cx.patient_no),
    );
    p.s(tags::PATIENT_ID, VR::LO, cx.patient_id.clone());
    p.s(
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        format!("{year:04}{:02}{:02}", pr.int(1, 12), pr.int(1, 28)),
    );
    p.s(tags::PATIENT_SEX, VR::CS, sex);

    // Study.
    let st = &mut cx.study;
    let sy = st.int(2012, 2024);
    let date = format!("{sy:04}{:02}{:02}", st.int(1, 12), st.int(1, 28));
    let time = format!(
        "{:02}{:02}{:02}",
        st.int(7, 19),
        st.int(0, 59),
        st.int(0, 59)
    );
    p.s(tags::STUDY_DATE, VR::DA, date.clone());
    p.s(tags::STUDY_TIME, VR::TM, time.clone());
    p.s(
        tags::ACCESSION_NUMBER,
        VR::SH,
        format!("A{:08}", st.int(0, 99_999_999)),
    );
    p.s(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "");
    p.s(tags::STUDY_ID, VR::SH, format!("{}", cx.study_no % 100_000));
    if (sy - year) < 120 && st.chance(0.7) {
        p.s(tags::PATIENT_AGE, VR::AS, format!("{:03}Y", sy - year));
    }
    p.s(
        tags::INSTITUTION_NAME,
        VR::LO,
        *st.pick(&[
            "Synthetic Phantom Hospital",
            "PHANTOM CLINIC",
            "Klinik Phantomstadt",
            "KB Fantom",
        ]),
    );
    let study_desc = text(st, study_texts(kind));
    p.s(tags::STUDY_INSTANCE_UID, VR::UI, cx.study_uid.clone());

    // Series.
    let se = &mut cx.series;
    let (manu, model) = *se.pick(manufacturers(modality));
    if se.chance(0.95) {
        p.s(tags::MANUFACTURER, VR::LO, manu);
    }
    if se.chance(0.85) {
        p.s(tags::MANUFACTURER_MODEL_NAME, VR::LO, model);
    }
    p.s(tags::MODALITY, VR::CS, modality);
    p.s(tags::SERIES_INSTANCE_UID, VR::UI, cx.series_uid.clone());
    p.s(tags::SERIES_NUMBER, VR::IS, cx.series_number.to_string());
    p.s(tags::SERIES_DATE, VR::DA, date.clone());
    let series_desc = text(se, series_texts(kind));
    let protocol = if se.chance(0.6) {
        text(se, series_texts(kind)).or_else(|| study_desc.clone())
    } else {
        None
    };
    let body_part = if se.chance(0.3) {
        Some(se.pick(body_parts(kind)).to_string())
    } else {
        None
    };
    let with_window = se.chance(0.6);
    let thickness = *se.pick(&[0.625, 1.0, 1.25, 2.0, 3.0, 5.0]);
    let fov = f64::from(se.range(0.8, 1.2));

    let mut non_ascii = false;
    for (tag, v) in [
        (tags::STUDY_DESCRIPTION, &study_desc),
        (tags::SERIES_DESCRIPTION, &series_desc),
        (tags::PROTOCOL_NAME, &protocol),
        (tags::BODY_PART_EXAMINED, &body_part),
    ] {
        if let Some(v) = v {
            non_ascii |= !v.is_ascii();
            let vr = if tag == tags::BODY_PART_EXAMINED {
                VR::CS
            } else {
                VR::LO
            };
            // CS allows upper case, digits, space and underscore only.
            let v = if vr == VR::CS {
                v.trim().to_uppercase().replace('-', "_")
            } else {
                v.clone()
            };
            p.s(tag, vr, v);
        }
    }
    if non_ascii {
        p.s(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    } else if se.chance(0.3) {
        p.s(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    }

    // Instance.
    let f = &mut cx.file;
    p.s(tags::SOP_CLASS_UID, VR::UI, sop_class(modality, img.frames));
    p.s(tags::SOP_INSTANCE_UID, VR::UI, cx.sop_uid.clone());
    p.s(
        tags::INSTANCE_NUMBER,
        VR::IS,
        cx.instance_number.to_string(),
    );
    p.s(tags::CONTENT_DATE, VR::DA, date);
    p.s(tags::CONTENT_TIME, VR::TM, time);
    let derived = f.chance(0.05);
    let mut image_type: Vec<String> = vec![
        if derived { "DERIVED" } else { "ORIGINAL" }.into(),
        if derived { "SECONDARY" } else { "PRIMARY" }.into(),
    ];
    match modality {
        "CT" => image_type.push("AXIAL".into()),
        "MR" => image_type.extend(["M".into(), "ND".into()]),
        "NM" => image_type.extend(["WHOLE BODY".into(), "EMISSION".into()]),
        "XA" => image_type.push("SINGLE PLANE".into()),
        _ => {}
    }
    p.multi(tags::IMAGE_TYPE, VR::CS, &image_type);

    // Geometry.
    let matrix = f64::from(img.columns.max(img.rows));
    let spacing = |mm: f64| ds(mm * fov / matrix);
    match modality {
        "CT" | "MR" => {
            let field = match kind {
                Kind::CtHead | Kind::MrBrainT1 | Kind::MrBrainT2 => 230.0,
                Kind::MrKnee => 160.0,
                Kind::MrLspine => 300.0,
                _ => 380.0,
            };
            let sp = spacing(field);
            p.multi(tags::PIXEL_SPACING, VR::DS, &[sp.clone(), sp]);
            let z0 = f64::from(cx.z) * 120.0 - 60.0;
            let half = field * fov / 2.0;
            p.multi(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                &[ds(-half), ds(-half), ds(z0)],
            );
            let orient: [&str; 6] = if kind == Kind::MrKnee || kind == Kind::MrLspine {
                ["0", "1", "0", "0", "0", "-1"]
            } else {
                ["1", "0", "0", "0", "1", "0"]
            };
            p.multi(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                &orient.map(String::from),
            );
            p.ds(tags::SLICE_LOCATION, z0);
            p.s(
                tags::FRAME_OF_REFERENCE_UID,
                VR::UI,
                cx.frame_of_reference_uid.clone(),
            );
            p.s(tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
            p.s(
                tags::PATIENT_POSITION,
                VR::CS,
                *se.pick(&["HFS", "HFS", "FFS", "HFP"]),
            );
            if modality == "CT" {
                p.ds(tags::SLICE_THICKNESS, thickness);
                p.ds(tags::KVP, *se.pick(&[100.0, 120.0, 120.0, 140.0]));
                p.s(tags::X_RAY_TUBE_CURRENT, VR::IS, f.int(80, 450).to_string());
                p.s(
                    tags::CONVOLUTION_KERNEL,
                    VR::SH,
                    *se.pick(&["B30f", "STANDARD", "H30s", "FC18", "B70f", "LUNG"]),
                );
                if let Some((intercept, slope)) = img.rescale {
                    p.ds(tags::RESCALE_INTERCEPT, intercept);
                    p.ds(tags::RESCALE_SLOPE, slope);
                    p.s(tags::RESCALE_TYPE, VR::LO, "HU");
                }
                if let (Some(pad), true) = (img.padding, se.chance(0.5)) {
                    let v = if img.signed {
                        PrimitiveValue::from(pad as i16)
                    } else {
                        PrimitiveValue::from(pad as u16)
                    };
                    p.0.put(DataElement::new(
                        tags::PIXEL_PADDING_VALUE,
                        if img.signed { VR::SS } else { VR::US },
                        v,
                    ));
                }
            } else {
                let t2 = kind == Kind::MrBrainT2 || kind == Kind::MrLspine;
                let (te, tr) = if t2 {
                    (se.range(80.0, 120.0), se.range(3000.0, 6000.0))
                } else {
                    (se.range(8.0, 20.0), se.range(400.0, 700.0))
                };
                p.ds(tags::SLICE_THICKNESS, *se.pick(&[3.0, 4.0, 5.0]));
                p.ds(tags::ECHO_TIME, f64::from(te).round());
                p.ds(tags::REPETITION_TIME, f64::from(tr).round());
                p.ds(tags::MAGNETIC_FIELD_STRENGTH, *se.pick(&[1.5, 3.0]));
                p.s(tags::SCANNING_SEQUENCE, VR::CS, "SE");
                p.s(
                    tags::SEQUENCE_VARIANT,
                    VR::CS,
                    *se.pick(&["SK", "SP", "NONE"]),
                );
                p.ds(tags::FLIP_ANGLE, if t2 { 150.0 } else { 90.0 });
                if t2 {
                    p.s(tags::ECHO_TRAIN_LENGTH, VR::IS, se.int(8, 24).to_string());
                }
            }
        }
        "CR" | "DX" | "MG" => {
            let field = match kind {
                Kind::XrHand | Kind::MgBreast => 240.0,
                Kind::XrKnee => 300.0,
                _ => 430.0,
            };
            let sp = spacing(field);
            p.multi(tags::IMAGER_PIXEL_SPACING, VR::DS, &[sp.clone(), sp]);
            let kvp = match kind {
                Kind::MgBreast => f.range(25.0, 32.0),
                Kind::XrChestPa => f.range(110.0, 125.0),
                Kind::XrHand => f.range(48.0, 60.0),
                _ => f.range(65.0, 85.0),
            };
            p.ds(tags::KVP, f64::from(kvp).round());
            p.ds(
                tags::DISTANCE_SOURCE_TO_DETECTOR,
                if kind == Kind::XrChestPa {
                    1800.0
                } else {
                    1150.0
                },
            );
            p.s(tags::EXPOSURE_TIME, VR::IS, f.int(4, 200).to_string());
            let view = match kind {
                Kind::XrChestPa => "PA",
                Kind::XrHand => *f.pick(&["PA", ""]),
                Kind::MgBreast => *f.pick(&["CC", "MLO"]),
                _ => "AP",
            };
            if !view.is_empty() || modality == "DX" {
                p.s(tags::VIEW_POSITION, VR::CS, view);
            }
            if matches!(kind, Kind::XrHand | Kind::XrKnee | Kind::MgBreast) {
                p.s(tags::IMAGE_LATERALITY, VR::CS, *f.pick(&["L", "R"]));
            }
            p.multi(
                tags::PATIENT_ORIENTATION,
                VR::CS,
                &[
                    String::from(if f.chance(0.5) { "L" } else { "R" }),
                    String::from("F"),
                ],
            );
            if modality != "CR" {
                p.s(tags::PRESENTATION_INTENT_TYPE, VR::CS, "FOR PRESENTATION");
            }
        }
        "XA" => {
            p.ds(tags::KVP, f64::from(f.range(70.0, 100.0)).round());
            p.ds(
                tags::POSITIONER_PRIMARY_ANGLE,
                f64::from(f.range(-45.0, 45.0)).round(),
            );
            p.ds(
                tags::POSITIONER_SECONDARY_ANGLE,
                f64::from(f.range(-30.0, 30.0)).round(),
            );
            p.ds(tags::DISTANCE_SOURCE_TO_DETECTOR, 1000.0);
            let sp = spacing(200.0);
            p.multi(tags::IMAGER_PIXEL_SPACING, VR::DS, &[sp.clone(), sp]);
        }
        "NM" => {
            let sp = spacing(540.0);
            p.multi(tags::PIXEL_SPACING, VR::DS, &[sp.clone(), sp]);
        }
        _ => {}
    }
    if img.frames > 1 || modality == "NM" {
        p.s(tags::NUMBER_OF_FRAMES, VR::IS, img.frames.to_string());
        let pointer = if modality == "NM" {
            tags::DETECTOR_VECTOR
        } else {
            tags::FRAME_TIME
        };
        p.0.put(DataElement::new(
            tags::FRAME_INCREMENT_POINTER,
            VR::AT,
            PrimitiveValue::Tags(vec![pointer].into()),
        ));
        if modality == "NM" {
            p.us(tags::NUMBER_OF_DETECTORS, img.frames as u16);
            p.0.put(DataElement::new(
                tags::DETECTOR_VECTOR,
                VR::US,
                PrimitiveValue::U16((1..=img.frames as u16).collect()),
            ));
        } else {
            let rate = *f.pick(&[7.5, 15.0, 25.0, 30.0]);
            p.ds(tags::FRAME_TIME, 1000.0 / rate);
            p.s(tags::CINE_RATE, VR::IS, (rate as u32).to_string());
        }
    }

    // Image pixel module.
    p.us(tags::SAMPLES_PER_PIXEL, img.samples_per_pixel);
    p.s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, img.photometric);
    if img.samples_per_pixel == 3 {
        p.us(tags::PLANAR_CONFIGURATION, 0);
    }
    p.us(tags::ROWS, img.rows);
    p.us(tags::COLUMNS, img.columns);
    p.us(tags::BITS_ALLOCATED, img.bits_allocated);
    p.us(tags::BITS_STORED, img.bits_stored);
    p.us(tags::HIGH_BIT, img.bits_stored - 1);
    p.us(tags::PIXEL_REPRESENTATION, u16::from(img.signed));
    if with_window && img.samples_per_pixel == 1 {
        let (c, w) = img.window;
        p.ds(tags::WINDOW_CENTER, c.round());
        p.ds(tags::WINDOW_WIDTH, w.round().max(1.0));
    }
    if kind == Kind::MgBreast || modality == "DX" || modality == "CR" {
        p.s(tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    }
    if kind == Kind::UsAbdomen {
        p.s(tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_short_and_valid() {
        assert_eq!(ds(120.0), "120");
        assert_eq!(ds(0.44921875), "0.4492");
        assert_eq!(ds(-1024.0), "-1024");
        assert_eq!(ds(0.0), "0");
        assert!(ds(-0.00001).len() <= 16);
    }

    #[test]
    fn description_pools_mix_languages() {
        let all: Vec<&str> = study_texts(Kind::CtHead).to_vec();
        assert!(
            all.contains(&"CT HEAD W/O")
                && all.contains(&"CT glave")
                && all.contains(&"Schädel nativ")
        );
        assert!(study_texts(Kind::XrChestPa).contains(&"RTG pluća"));
        assert!(study_texts(Kind::XrChestPa).contains(&"Thorax pa"));
    }
}
