//! Pixels to a representative frame: Modality LUT, VOI, MONOCHROME1 inversion, colour,
//! then the 224-pixel model input and the thumbnail.

use std::path::Path;

/// Side of the square greyscale model input.
pub const MODEL_SIZE: u32 = 224;
/// Longest side of a thumbnail.
pub const THUMB_SIZE: u32 = 128;

/// The two outputs of decoding one image.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// `MODEL_SIZE * MODEL_SIZE` grey bytes: aspect-preserving resize, zero padded, centred.
    pub model_input: Vec<u8>,
    /// Colour-preserving thumbnail, longest side `THUMB_SIZE`.
    pub thumbnail: image::RgbImage,
    /// Flags computed on the windowed frame.
    pub quality: super::QualityFlags,
}

/// Why a file could not be decoded, in words fit for the skipped list.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot read file: {0}")]
    Io(String),
    #[error("not decodable: {0}")]
    Unsupported(String),
    #[error("pixel data is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Decode the representative (middle) frame of `path`.
pub fn decode_file(path: &Path) -> Result<Decoded, DecodeError> {
    let _ = path;
    Err(DecodeError::Unsupported("decoder not built yet".into()))
}
