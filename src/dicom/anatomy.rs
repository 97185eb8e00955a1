//! Anatomical region normalisation onto RadiologyNET's region list.
//!
//! BodyPartExamined is tried first, then the description fields. THORAX and HEART merge
//! into CHEST, BRAIN into HEAD. Terms are English, German and Croatian, plus common
//! abbreviations. To add a term, add a row to [`TERMS`]: the first matching row wins, so
//! more specific terms (e.g. "C-SPINE") stand before general ones ("SPINE").

use serde::{Deserialize, Serialize};

macro_rules! regions {
    ($($v:ident = $s:literal),* $(,)?) => {
        /// RadiologyNET's anatomical regions.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "UPPERCASE")]
        pub enum Region { $($v,)* #[default] Unknown }
        impl Region {
            pub const ALL: &'static [Region] = &[$(Region::$v,)* Region::Unknown];
            /// Upper-case name as RadiologyNET writes it.
            pub fn as_str(self) -> &'static str {
                match self { $(Region::$v => $s,)* Region::Unknown => "UNKNOWN" }
            }
        }
    };
}

regions!(
    Wrist = "WRIST",
    Finger = "FINGER",
    Arm = "ARM",
    Hand = "HAND",
    Elbow = "ELBOW",
    Skull = "SKULL",
    Head = "HEAD",
    Gitract = "GITRACT",
    Heel = "HEEL",
    Ankle = "ANKLE",
    Knee = "KNEE",
    Foot = "FOOT",
    Leg = "LEG",
    Urinarytract = "URINARYTRACT",
    Carotid = "CAROTID",
    Cspine = "CSPINE",
    Lspine = "LSPINE",
    Tspine = "TSPINE",
    Shoulder = "SHOULDER",
    Clavicle = "CLAVICLE",
    Breast = "BREAST",
    Chest = "CHEST",
    Hip = "HIP",
    Pelvis = "PELVIS",
    Neck = "NECK",
    Abdomen = "ABDOMEN",
    Wholebody = "WHOLEBODY",
    Extremity = "EXTREMITY",
    Test = "TEST",
);

impl Region {
    pub fn parse(s: &str) -> Option<Region> {
        let up = s.trim().to_uppercase();
        Region::ALL.iter().copied().find(|r| r.as_str() == up)
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the region came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnatomySource {
    /// BodyPartExamined mapped onto the list.
    Tag,
    /// Inferred from the description texts.
    Text,
    #[default]
    Unknown,
}

use Region::*;

/// (term, region). Terms are matched on word boundaries against upper-cased, accent-folded
/// text, so "HANDGELENK" matches its own row before "HAND". Order matters: first match wins.
pub const TERMS: &[(&str, Region)] = &[
    // spine, most specific first
    ("C-SPINE", Cspine),
    ("CSPINE", Cspine),
    ("C SPINE", Cspine),
    ("CERVICAL SPINE", Cspine),
    ("HWS", Cspine),
    ("VRATNA KRALJEZNICA", Cspine),
    ("VRATNE KRALJEZNICE", Cspine),
    ("HALSWIRBELSAEULE", Cspine),
    ("CERVICAL", Cspine),
    ("L-SPINE", Lspine),
    ("LSPINE", Lspine),
    ("L SPINE", Lspine),
    ("LUMBAR SPINE", Lspine),
    ("LUMBAR", Lspine),
    ("LWS", Lspine),
    ("LS", Lspine),
    ("LENDENWIRBELSAEULE", Lspine),
    ("LSL", Lspine),
    ("SLABINSKA KRALJEZNICA", Lspine),
    ("LUMBALNA", Lspine),
    ("LUMBALNE", Lspine),
    ("T-SPINE", Tspine),
    ("TSPINE", Tspine),
    ("T SPINE", Tspine),
    ("THORACIC SPINE", Tspine),
    ("BWS", Tspine),
    ("BRUSTWIRBELSAEULE", Tspine),
    ("TORAKALNA KRALJEZNICA", Tspine),
    ("TORAKALNE KRALJEZNICE", Tspine),
    ("DORSAL SPINE", Tspine),
    // head and neck
    ("CAROTID", Carotid),
    ("CAROTIS", Carotid),
    ("KAROTIDE", Carotid),
    ("KAROTIDA", Carotid),
    ("SKULL", Skull),
    ("LUBANJA", Skull),
    ("LUBANJE", Skull),
    ("SCHAEDEL", Skull),
    ("SCHADEL", Skull),
    ("CRANIUM", Skull),
    ("KRANIUM", Skull),
    ("HEAD", Head),
    ("BRAIN", Head),
    ("KOPF", Head),
    ("GEHIRN", Head),
    ("HIRN", Head),
    ("CEREBRUM", Head),
    ("MOZAK", Head),
    ("MOZGA", Head),
    ("GLAVA", Head),
    ("GLAVE", Head),
    ("NEURO", Head),
    ("CRANIAL", Head),
    ("IAC", Head),
    ("SELLA", Head),
    ("ORBIT", Head),
    ("ORBITS", Head),
    ("SINUS", Head),
    ("SINUSES", Head),
    ("NECK", Neck),
    ("HALS", Neck),
    ("VRAT", Neck),
    ("VRATA", Neck),
    ("THYROID", Neck),
    // chest
    ("CXR", Chest),
    ("CHEST", Chest),
    ("THORAX", Chest),
    ("THORAKS", Chest),
    ("TORAKS", Chest),
    ("LUNG", Chest),
    ("LUNGS", Chest),
    ("LUNGE", Chest),
    ("PLUCA", Chest),
    ("PLUCNA", Chest),
    ("HEART", Chest),
    ("HERZ", Chest),
    ("SRCE", Chest),
    ("SRCA", Chest),
    ("CARDIAC", Chest),
    ("CORONARY", Chest),
    ("KORONAR", Chest),
    ("KORONAROGRAFIJA", Chest),
    ("CARDIO", Chest),
    ("PRSNI KOS", Chest),
    ("RIBS", Chest),
    ("TORAKALNI", Chest),
    ("CTA PE", Chest),
    ("BREAST", Breast),
    ("MAMMO", Breast),
    ("MAMMOGRAPHY", Breast),
    ("MAMMA", Breast),
    ("MAMOGRAFIJA", Breast),
    ("DOJKA", Breast),
    ("DOJKE", Breast),
    ("BRUST", Breast),
    ("CLAVICLE", Clavicle),
    ("KLAVIKULA", Clavicle),
    ("SCHLUESSELBEIN", Clavicle),
    ("SHOULDER", Shoulder),
    ("SCHULTER", Shoulder),
    ("RAME", Shoulder),
    ("RAMENA", Shoulder),
    // abdomen and pelvis
    ("UROGRAPHY", Urinarytract),
    ("KIDNEY", Urinarytract),
    ("KIDNEYS", Urinarytract),
    ("RENAL", Urinarytract),
    ("BUBREG", Urinarytract),
    ("BUBREZI", Urinarytract),
    ("NIERE", Urinarytract),
    ("NIEREN", Urinarytract),
    ("BLADDER", Urinarytract),
    ("KUB", Urinarytract),
    ("UROTRAKT", Urinarytract),
    ("URINARY", Urinarytract),
    ("COLON", Gitract),
    ("STOMACH", Gitract),
    ("BOWEL", Gitract),
    ("ESOPHAGUS", Gitract),
    ("OESOPHAGUS", Gitract),
    ("DARM", Gitract),
    ("MAGEN", Gitract),
    ("ZELUDAC", Gitract),
    ("CRIJEVO", Gitract),
    ("GI", Gitract),
    ("ENTEROGRAPHY", Gitract),
    ("ABDOMEN", Abdomen),
    ("ABD", Abdomen),
    ("ABDOMINAL", Abdomen),
    ("TRBUH", Abdomen),
    ("TRBUHA", Abdomen),
    ("LIVER", Abdomen),
    ("LEBER", Abdomen),
    ("JETRA", Abdomen),
    ("JETRE", Abdomen),
    ("BAUCH", Abdomen),
    ("OBERBAUCH", Abdomen),
    ("PANCREAS", Abdomen),
    ("HIP", Hip),
    ("HIPS", Hip),
    ("HUEFTE", Hip),
    ("KUK", Hip),
    ("KUKA", Hip),
    ("KUKOVI", Hip),
    ("PELVIS", Pelvis),
    ("BECKEN", Pelvis),
    ("ZDJELICA", Pelvis),
    ("ZDJELICE", Pelvis),
    ("PROSTATE", Pelvis),
    ("SACRUM", Pelvis),
    ("UTERUS", Pelvis),
    // upper limb, specific first
    ("WRIST", Wrist),
    ("HANDGELENK", Wrist),
    ("RUCNI ZGLOB", Wrist),
    ("ZAPESCE", Wrist),
    ("FINGER", Finger),
    ("FINGERS", Finger),
    ("THUMB", Finger),
    ("PRST", Finger),
    ("PRSTI", Finger),
    ("DAUMEN", Finger),
    ("HAND", Hand),
    ("HANDS", Hand),
    ("SAKA", Hand),
    ("SAKE", Hand),
    ("SHAKA", Hand),
    ("ELBOW", Elbow),
    ("ELLENBOGEN", Elbow),
    ("LAKAT", Elbow),
    ("LAKTA", Elbow),
    ("ARM", Arm),
    ("FOREARM", Arm),
    ("HUMERUS", Arm),
    ("UNTERARM", Arm),
    ("OBERARM", Arm),
    ("PODLAKTICA", Arm),
    ("NADLAKTICA", Arm),
    ("RUKA", Arm),
    ("RUKE", Arm),
    // lower limb, specific first
    ("HEEL", Heel),
    ("CALCANEUS", Heel),
    ("FERSE", Heel),
    ("PETA", Heel),
    ("PETNA", Heel),
    ("ANKLE", Ankle),
    ("SPRUNGGELENK", Ankle),
    ("GLEZANJ", Ankle),
    ("GLEZNJA", Ankle),
    ("OSG", Ankle),
    ("KNEE", Knee),
    ("KNIE", Knee),
    ("KOLJENO", Knee),
    ("KOLJENA", Knee),
    ("PATELLA", Knee),
    ("FOOT", Foot),
    ("FEET", Foot),
    ("FUSS", Foot),
    ("STOPALO", Foot),
    ("STOPALA", Foot),
    ("LEG", Leg),
    ("LEGS", Leg),
    ("FEMUR", Leg),
    ("TIBIA", Leg),
    ("BEIN", Leg),
    ("NOGA", Leg),
    ("NOGE", Leg),
    ("POTKOLJENICA", Leg),
    ("OBERSCHENKEL", Leg),
    ("UNTERSCHENKEL", Leg),
    ("BUTINA", Leg),
    ("EXTREMITY", Extremity),
    ("EXTREMITAET", Extremity),
    ("EKSTREMITET", Extremity),
    ("LIMB", Extremity),
    ("UPPER EXTREMITY", Extremity),
    ("LOWER EXTREMITY", Extremity),
    // whole body and tests
    ("WHOLEBODY", Wholebody),
    ("WHOLE BODY", Wholebody),
    ("WB", Wholebody),
    ("GANZKOERPER", Wholebody),
    ("CIJELO TIJELO", Wholebody),
    ("BONE SCAN", Wholebody),
    ("SCINTIGRAFIJA SKELETA", Wholebody),
    ("PHANTOM", Test),
    ("QA", Test),
    ("QC", Test),
    ("TEST", Test),
    ("CALIBRATION", Test),
];

/// Upper-case, fold accents (č ć š ž đ ä ö ü ß) to ASCII, and turn punctuation other than
/// '-' into spaces, so that terms match on word boundaries.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let mapped: &str = match ch {
            'č' | 'ć' | 'Č' | 'Ć' => "C",
            'š' | 'Š' => "S",
            'ž' | 'Ž' => "Z",
            'đ' | 'Đ' => "DJ",
            'ä' | 'Ä' => "AE",
            'ö' | 'Ö' => "OE",
            'ü' | 'Ü' => "UE",
            'ß' => "SS",
            'é' | 'è' | 'É' | 'È' => "E",
            c if c.is_alphanumeric() || c == '-' => {
                for u in c.to_uppercase() {
                    out.push(u);
                }
                continue;
            }
            _ => " ",
        };
        out.push_str(mapped);
    }
    out
}

/// First region whose term occurs on word boundaries in folded `text`.
pub fn match_text(text: &str) -> Option<Region> {
    let folded = fold(text);
    let padded = format!(
        " {} ",
        folded.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    // German writers also fold umlauts as plain vowels ("SCHADEL"); both spellings are rows.
    TERMS
        .iter()
        .find(|(term, _)| padded.contains(&format!(" {term} ")))
        .map(|&(_, r)| r)
}

/// Normalise a body-part tag plus description texts to a region and its source.
pub fn normalise(body_part: Option<&str>, descriptions: &[&str]) -> (Region, AnatomySource) {
    if let Some(bp) = body_part.map(str::trim).filter(|s| !s.is_empty()) {
        let folded = fold(bp).replace(' ', "");
        if let Some(r) = Region::parse(&folded) {
            return (r, AnatomySource::Tag);
        }
        if let Some(r) = match_text(bp) {
            return (r, AnatomySource::Tag);
        }
    }
    for d in descriptions {
        if let Some(r) = match_text(d) {
            return (r, AnatomySource::Text);
        }
    }
    (Region::Unknown, AnatomySource::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_map_directly_and_merge() {
        assert_eq!(normalise(Some("CHEST"), &[]), (Chest, AnatomySource::Tag));
        assert_eq!(normalise(Some("THORAX"), &[]), (Chest, AnatomySource::Tag));
        assert_eq!(normalise(Some("HEART"), &[]), (Chest, AnatomySource::Tag));
        assert_eq!(normalise(Some("BRAIN"), &[]), (Head, AnatomySource::Tag));
        assert_eq!(
            normalise(Some("L-SPINE"), &[]),
            (Lspine, AnatomySource::Tag)
        );
        assert_eq!(normalise(Some("lspine"), &[]), (Lspine, AnatomySource::Tag));
    }

    #[test]
    fn text_in_three_languages() {
        assert_eq!(normalise(None, &["RTG pluća i srca"]).0, Chest);
        assert_eq!(normalise(None, &["CT lubanja"]).0, Skull);
        assert_eq!(normalise(None, &["Schädel nativ"]).0, Skull);
        assert_eq!(normalise(None, &["CT glave"]).0, Head);
        assert_eq!(normalise(None, &["Thorax pa"]).0, Chest);
        assert_eq!(normalise(None, &["CXR"]).0, Chest);
        assert_eq!(normalise(None, &["MRT LWS"]).0, Lspine);
        assert_eq!(normalise(None, &["C-spine 3 views"]).0, Cspine);
        assert_eq!(normalise(None, &["Handgelenk links"]).0, Wrist);
        assert_eq!(normalise(None, &["RTG koljena"]).0, Knee);
    }

    #[test]
    fn text_source_and_unknown() {
        assert_eq!(
            normalise(Some(""), &["CT HEAD W/O"]),
            (Head, AnatomySource::Text)
        );
        assert_eq!(
            normalise(None, &["series 3"]),
            (Unknown, AnatomySource::Unknown)
        );
        // Substrings inside other words must not match: "ARM" in "PHARMA".
        assert_eq!(normalise(None, &["PHARMACY"]).0, Unknown);
    }

    #[test]
    fn every_region_round_trips_by_name() {
        for r in Region::ALL {
            assert_eq!(Region::parse(r.as_str()), Some(*r));
        }
    }
}
