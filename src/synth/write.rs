//! One instance to Part 10 bytes: native pixel data, then the chosen transfer syntax.
//!
//! JPEG baseline and JPEG-LS use dicom-rs's own encoders (the `PixelDataWriter`s of
//! dicom-transfer-syntax-registry); RLE Lossless uses [`super::rle`], since dicom-rs
//! 0.10 only decodes it.

use dicom_core::ops::ApplyOp;
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue};
use dicom_core::{DataElement, Length, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::adapters::EncodeOptions;
use dicom_encoding::Codec;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{FileDicomObject, InMemDicomObject};
use dicom_transfer_syntax_registry::entries;

use super::phantom::StoredImage;
use super::rle;

/// Transfer syntaxes the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Syntax {
    ExplicitLe,
    ImplicitLe,
    DeflatedLe,
    Rle,
    JpegBaseline,
    JpegLsLossless,
}

impl Syntax {
    pub const ALL: [Syntax; 6] = [
        Syntax::ExplicitLe,
        Syntax::ImplicitLe,
        Syntax::DeflatedLe,
        Syntax::Rle,
        Syntax::JpegBaseline,
        Syntax::JpegLsLossless,
    ];

    pub fn uid(self) -> &'static str {
        match self {
            Syntax::ExplicitLe => "1.2.840.10008.1.2.1",
            Syntax::ImplicitLe => "1.2.840.10008.1.2",
            Syntax::DeflatedLe => "1.2.840.10008.1.2.1.99",
            Syntax::Rle => "1.2.840.10008.1.2.5",
            Syntax::JpegBaseline => "1.2.840.10008.1.2.4.50",
            Syntax::JpegLsLossless => "1.2.840.10008.1.2.4.80",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Syntax::ExplicitLe => "explicit-le",
            Syntax::ImplicitLe => "implicit-le",
            Syntax::DeflatedLe => "deflated-le",
            Syntax::Rle => "rle",
            Syntax::JpegBaseline => "jpeg-baseline",
            Syntax::JpegLsLossless => "jpeg-ls",
        }
    }

    /// Whether decoding gives back the stored samples exactly.
    pub fn is_lossless(self) -> bool {
        self != Syntax::JpegBaseline
    }

    /// Whether this syntax can carry `img` faithfully.
    pub(crate) fn fits(self, img: &StoredImage) -> bool {
        match self {
            // Baseline JPEG is 8-bit only; deeper images would lose bits.
            Syntax::JpegBaseline => img.bits_allocated == 8,
            // JPEG-LS codes unsigned samples of BitsStored bits.
            Syntax::JpegLsLossless => !img.signed,
            _ => true,
        }
    }
}

/// Why one instance could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(pub String);

fn err(e: impl std::fmt::Display) -> EncodeError {
    EncodeError(e.to_string())
}

/// Put native pixel data into `obj`, wrap it in a file meta group and encode it as `syntax`.
pub(crate) fn to_file(
    mut obj: InMemDicomObject,
    img: &StoredImage,
    syntax: Syntax,
) -> Result<FileDicomObject<InMemDicomObject>, EncodeError> {
    let native = if img.bits_allocated == 8 {
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(img.data.clone()),
        )
    } else {
        let words: Vec<u16> = img
            .data
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into()))
    };
    obj.put(native);
    let meta = |ts: &str| {
        FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name("RADCLUSTER_SYN")
    };
    match syntax {
        Syntax::ExplicitLe | Syntax::ImplicitLe | Syntax::DeflatedLe => {
            obj.with_meta(meta(syntax.uid())).map_err(err)
        }
        Syntax::Rle => {
            let frame_len = img.frame_len();
            let bytes = (img.bits_allocated / 8) as usize;
            let fragments: Vec<Vec<u8>> = img
                .data
                .chunks_exact(frame_len)
                .map(|f| {
                    rle::encode_frame(
                        f,
                        img.rows as usize,
                        img.columns as usize,
                        img.samples_per_pixel as usize,
                        bytes,
                    )
                })
                .collect();
            put_fragments(&mut obj, fragments);
            obj.put(DataElement::new(
                tags::LOSSY_IMAGE_COMPRESSION,
                VR::CS,
                "00",
            ));
            obj.with_meta(meta(syntax.uid())).map_err(err)
        }
        Syntax::JpegBaseline | Syntax::JpegLsLossless => {
            let mut file = obj
                .with_meta(meta(entries::EXPLICIT_VR_LITTLE_ENDIAN.uid()))
                .map_err(err)?;
            let ts = if syntax == Syntax::JpegBaseline {
                entries::JPEG_BASELINE.erased()
            } else {
                entries::JPEG_LS_LOSSLESS_IMAGE_COMPRESSION.erased()
            };
            let Codec::EncapsulatedPixelData(_, Some(writer)) = ts.codec() else {
                return Err(EncodeError(format!(
                    "no encoder for {} in this build",
                    ts.name()
                )));
            };
            let mut fragments = Vec::new();
            let mut offsets = Vec::new();
            let options = {
                let mut o = EncodeOptions::default();
                o.quality = Some(92);
                o
            };
            let ops = writer
                .encode(&file, options, &mut fragments, &mut offsets)
                .map_err(err)?;
            put_fragments(&mut file, fragments);
            for op in ops {
                file.apply(op).map_err(err)?;
            }
            if syntax == Syntax::JpegBaseline {
                file.put(DataElement::new(
                    tags::LOSSY_IMAGE_COMPRESSION_METHOD,
                    VR::CS,
                    "ISO_10918_1",
                ));
            }
            file.update_meta(|m| m.set_transfer_syntax(&ts));
            Ok(file)
        }
    }
}

/// Encapsulated Pixel Data with a Basic Offset Table (PS3.5 A.4), one fragment per frame.
fn put_fragments(obj: &mut InMemDicomObject, mut fragments: Vec<Vec<u8>>) {
    let mut offsets = Vec::with_capacity(fragments.len());
    let mut at = 0u32;
    for f in &mut fragments {
        if f.len() % 2 == 1 {
            f.push(0);
        }
        offsets.push(at);
        at += f.len() as u32 + 8;
    }
    let offsets = if fragments.len() > 1 {
        offsets
    } else {
        Vec::new()
    };
    obj.put(DataElement::new_with_len(
        tags::PIXEL_DATA,
        VR::OB,
        Length::UNDEFINED,
        PixelFragmentSequence::new(offsets, fragments),
    ));
}

/// Implementation Class UID of files this generator writes (a fixed `2.25` UUID).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.190586125627438429154713094395447398311";
