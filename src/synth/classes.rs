//! The modality x region classes a synthetic archive is drawn from.

use crate::dicom::Region;

/// Which phantom a class paints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    CtHead,
    CtChest,
    CtAbdomen,
    CtPelvis,
    MrBrainT1,
    MrBrainT2,
    MrKnee,
    MrLspine,
    XrChestPa,
    XrHand,
    XrKnee,
    XrPelvis,
    UsAbdomen,
    MgBreast,
    NmWholeBody,
    XaCoronary,
}

/// One class of the ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassSpec {
    pub kind: Kind,
    /// Stable machine name, written to `ground_truth.csv` (`CT_HEAD`, `XR_HAND`, ...).
    pub name: &'static str,
    /// Modalities a series of this class is written as (CR or DX for radiographs).
    pub modalities: &'static [&'static str],
    /// The true anatomical region.
    pub region: Region,
    /// Words for people.
    pub label: &'static str,
}

const fn c(
    kind: Kind,
    name: &'static str,
    modalities: &'static [&'static str],
    region: Region,
    label: &'static str,
) -> ClassSpec {
    ClassSpec {
        kind,
        name,
        modalities,
        region,
        label,
    }
}

static DEFAULT: [ClassSpec; 16] = [
    c(Kind::CtHead, "CT_HEAD", &["CT"], Region::Head, "CT head"),
    c(
        Kind::CtChest,
        "CT_CHEST",
        &["CT"],
        Region::Chest,
        "CT chest",
    ),
    c(
        Kind::CtAbdomen,
        "CT_ABDOMEN",
        &["CT"],
        Region::Abdomen,
        "CT abdomen",
    ),
    c(
        Kind::CtPelvis,
        "CT_PELVIS",
        &["CT"],
        Region::Pelvis,
        "CT pelvis",
    ),
    c(
        Kind::MrBrainT1,
        "MR_BRAIN_T1",
        &["MR"],
        Region::Head,
        "MR brain T1",
    ),
    c(
        Kind::MrBrainT2,
        "MR_BRAIN_T2",
        &["MR"],
        Region::Head,
        "MR brain T2",
    ),
    c(Kind::MrKnee, "MR_KNEE", &["MR"], Region::Knee, "MR knee"),
    c(
        Kind::MrLspine,
        "MR_LSPINE",
        &["MR"],
        Region::Lspine,
        "MR lumbar spine",
    ),
    c(
        Kind::XrChestPa,
        "XR_CHEST_PA",
        &["CR", "DX"],
        Region::Chest,
        "CR/DX chest PA",
    ),
    c(
        Kind::XrHand,
        "XR_HAND",
        &["CR", "DX"],
        Region::Hand,
        "CR/DX hand",
    ),
    c(
        Kind::XrKnee,
        "XR_KNEE",
        &["CR", "DX"],
        Region::Knee,
        "CR/DX knee",
    ),
    c(
        Kind::XrPelvis,
        "XR_PELVIS",
        &["CR", "DX"],
        Region::Pelvis,
        "CR/DX pelvis",
    ),
    c(
        Kind::UsAbdomen,
        "US_ABDOMEN",
        &["US"],
        Region::Abdomen,
        "US abdomen",
    ),
    c(
        Kind::MgBreast,
        "MG_BREAST",
        &["MG"],
        Region::Breast,
        "MG breast",
    ),
    c(
        Kind::NmWholeBody,
        "NM_WHOLEBODY",
        &["NM"],
        Region::Wholebody,
        "NM whole body",
    ),
    c(
        Kind::XaCoronary,
        "XA_CORONARY",
        &["XA"],
        Region::Chest,
        "XA coronary",
    ),
];

/// The default class set, in a fixed order.
pub fn classes() -> &'static [ClassSpec] {
    &DEFAULT
}

/// A named set of classes (`--classes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClassSet {
    /// All sixteen classes of [`classes`].
    #[default]
    Default,
}

impl ClassSet {
    pub fn specs(self) -> &'static [ClassSpec] {
        match self {
            ClassSet::Default => classes(),
        }
    }
}

impl std::str::FromStr for ClassSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "default" => Ok(ClassSet::Default),
            other => Err(format!("unknown class set {other:?} (known: default)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_distinct_classes() {
        let cs = classes();
        assert_eq!(cs.len(), 16);
        let mut names: Vec<_> = cs.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 16);
        assert!(cs
            .iter()
            .all(|c| !c.modalities.is_empty() && c.region != Region::Unknown));
    }

    #[test]
    fn class_set_parses() {
        assert_eq!("default".parse::<ClassSet>(), Ok(ClassSet::Default));
        assert!("nonsense"
            .parse::<ClassSet>()
            .unwrap_err()
            .contains("nonsense"));
    }
}
