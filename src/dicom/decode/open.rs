//! Opening a file for decoding: Part 10 files (with or without the 128-byte preamble) and
//! raw data sets with no file meta group, whose transfer syntax is inferred from the bytes.

use std::path::Path;

use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::{FileMetaTable, FileMetaTableBuilder};
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::DecodeError;
use crate::dicom::layout::{self, Enc, PixelData, Start, Walk};

/// Explicit VR Big Endian (retired, still found in archives).
pub(crate) const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// Files above this size are refused rather than read into memory.
pub(crate) const MAX_FILE_BYTES: u64 = 2 << 30;

/// A DICOM object ready for decoding, whatever its on-disk framing was.
pub(crate) struct Opened<'a> {
    pub obj: DefaultDicomObject,
    /// Pixel Data read in place from the file's bytes (the usual case: a little-endian
    /// data set whose element headers could be walked); `obj` then holds everything
    /// before it. `None`: `obj` holds Pixel Data itself, if the file has any.
    pub pixel: Option<PixelData<'a>>,
    /// True when the file had no meta group and the transfer syntax was inferred.
    #[allow(dead_code)]
    pub inferred: bool,
}

/// Run `f` on all the bytes of `path` (files above [`MAX_FILE_BYTES`] are refused). The
/// bytes are read into a buffer kept by the thread, so that a batch of large files does
/// not map, fault in and zero fresh memory for every one of them.
pub(crate) fn with_bytes<T>(
    path: &Path,
    f: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    use std::cell::RefCell;
    use std::io::Read;
    /// A buffer above this is not kept after use.
    const KEEP_BYTES: usize = 64 << 20;
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let mut file = std::fs::File::open(path).map_err(|e| DecodeError::Io(e.to_string()))?;
    let len = file
        .metadata()
        .map_err(|e| DecodeError::Io(e.to_string()))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(DecodeError::Unsupported(format!(
            "file is {len} bytes, above the {MAX_FILE_BYTES} byte limit"
        )));
    }
    BUF.with(|cell| {
        // A nested call (none is made today) gets a buffer of its own.
        let mut own = Vec::new();
        let mut kept = cell.try_borrow_mut().ok();
        let buf = kept.as_deref_mut().unwrap_or(&mut own);
        buf.clear();
        buf.reserve(len as usize);
        let read = file
            .read_to_end(buf)
            .map_err(|e| DecodeError::Io(e.to_string()));
        let out = read.and_then(|_| f(buf));
        if buf.capacity() > KEEP_BYTES {
            *buf = Vec::new();
        }
        out
    })
}

/// Parse a whole file held in memory.
pub(crate) fn open_bytes(bytes: &[u8]) -> Result<Opened<'_>, DecodeError> {
    let part10_at = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Some(128)
    } else if bytes.len() >= 4 && &bytes[..4] == b"DICM" {
        Some(0)
    } else {
        None
    };
    let Some(at) = part10_at else {
        return open_raw_dataset(bytes);
    };
    let size = bytes.len() as u64;
    let walked = match layout::walk(bytes, size, at + 4, Start::Part10 { flip: false }) {
        Ok(w) => w,
        Err(e) => {
            layout::walk(bytes, size, at + 4, Start::Part10 { flip: true })
                .map_err(|_| DecodeError::Corrupt(e))?;
            // The data set is in the other VR encoding than declared. Parse it so
            // directly: read as declared, a value header's bytes become a length of up to
            // 4 GB that the parser allocates and zeroes before it fails (1 s and 1.2 GB on
            // a 4 KB file).
            return mismatched_vr(&bytes[at..]).ok_or_else(|| {
                DecodeError::Corrupt(
                    "the data set is in the other VR encoding than declared and cannot be parsed"
                        .into(),
                )
            });
        }
    };
    match walked {
        Walk::UndefinedUn { group, elem } => {
            return Err(DecodeError::Unsupported(format!(
                "element ({group:04X},{elem:04X}) is UN with undefined length"
            )))
        }
        Walk::PixelData { pos, enc } if enc != Enc::ExplicitBe => {
            // Parse only what comes before Pixel Data; the pixels stay where they are.
            let header = OpenFileOptions::new()
                .read_preamble(ReadPreamble::Never)
                .read_until(tags::PIXEL_DATA)
                .from_reader(&bytes[at..pos]);
            if let Ok(obj) = header {
                let pixel = layout::pixel_data(bytes, pos, enc).map_err(DecodeError::Corrupt)?;
                return Ok(Opened {
                    obj,
                    pixel: Some(pixel),
                    inferred: false,
                });
            }
        }
        _ => {}
    }
    // Big endian, deflated, or a header the parser refused: parse the whole file. Nothing
    // after Pixel Data is needed, and stopping there also tolerates trailing padding or
    // garbage that some writers leave behind.
    let parsed = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .read_to(tags::PIXEL_DATA)
        .from_reader(&bytes[at..]);
    match parsed {
        Ok(obj) => Ok(Opened {
            obj,
            pixel: None,
            inferred: false,
        }),
        // Trailing bytes that are not DICOM (zero padding, junk) after native pixels: parse
        // up to the end of the Pixel Data value only.
        Err(e) => match walked {
            Walk::PixelData { pos, enc } => layout::native_end(bytes, pos, enc),
            _ => None,
        }
        .filter(|&end| end < bytes.len())
        .and_then(|end| {
            OpenFileOptions::new()
                .read_preamble(ReadPreamble::Never)
                .from_reader(&bytes[at..end])
                .ok()
        })
        .map(|obj| Opened {
            obj,
            pixel: None,
            inferred: false,
        })
        .or_else(|| mismatched_vr(&bytes[at..]))
        .ok_or_else(|| DecodeError::Corrupt(format!("cannot parse DICOM file: {e}"))),
    }
}

/// Some writers declare explicit VR in the meta group but encode the data set in implicit
/// VR (or the reverse). Keep the meta group (its transfer syntax still says how the pixels
/// are compressed) and parse the data set in the other little-endian VR encoding.
fn mismatched_vr(from_magic: &[u8]) -> Option<Opened<'static>> {
    let mut rest = from_magic;
    let meta = FileMetaTable::from_reader(&mut rest).ok()?;
    let declared = meta.transfer_syntax().to_string();
    let declared_implicit = declared == uids::IMPLICIT_VR_LITTLE_ENDIAN;
    if declared == EXPLICIT_VR_BIG_ENDIAN || declared == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN {
        return None;
    }
    let alt = if declared_implicit {
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    } else {
        uids::IMPLICIT_VR_LITTLE_ENDIAN
    };
    let ts = TransferSyntaxRegistry.get(alt)?;
    let ds = InMemDicomObject::read_dataset_with_ts(rest, ts).ok()?;
    ds.get(tags::PIXEL_DATA)?;
    Some(Opened {
        obj: ds.with_exact_meta(meta),
        pixel: None,
        inferred: true,
    })
}

/// Two upper-case letters that name a DICOM value representation.
fn is_vr(b: &[u8]) -> bool {
    const VRS: &[&[u8; 2]] = &[
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB",
        b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
        b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
    ];
    b.len() >= 2 && VRS.iter().any(|v| v[..] == b[..2])
}

/// Transfer syntaxes to try for a raw data set, most likely first, judged from the first
/// element header: a plausible group number in little or big endian, and a VR or not.
fn candidate_syntaxes(bytes: &[u8]) -> Vec<&'static str> {
    let all = [
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_BIG_ENDIAN,
    ];
    let mut order = Vec::with_capacity(3);
    if bytes.len() >= 6 {
        let le = u16::from_le_bytes([bytes[0], bytes[1]]);
        let be = u16::from_be_bytes([bytes[0], bytes[1]]);
        let explicit = is_vr(&bytes[4..6]);
        let plausible = |g: u16| g != 0 && g <= 0x0100 && g % 2 == 0;
        if plausible(le) {
            order.push(if explicit { all[0] } else { all[1] });
        } else if plausible(be) && explicit {
            order.push(all[2]);
        }
    }
    for ts in all {
        if !order.contains(&ts) {
            order.push(ts);
        }
    }
    order
}

/// A data set with no preamble and no file meta group: infer the transfer syntax, then wrap
/// the data set in a synthetic meta group so the pixel pipeline can treat it like any file.
fn open_raw_dataset(bytes: &[u8]) -> Result<Opened<'static>, DecodeError> {
    let mut last_err = String::from("empty file");
    for ts_uid in candidate_syntaxes(bytes) {
        let Some(ts) = TransferSyntaxRegistry.get(ts_uid) else {
            continue;
        };
        let explicit = ts_uid != uids::IMPLICIT_VR_LITTLE_ENDIAN;
        let little = ts_uid != EXPLICIT_VR_BIG_ENDIAN;
        // A plausible first group, and lengths that fit, before the parser sees it.
        let g = bytes.get(..2).map(|b| {
            if little {
                u16::from_le_bytes([b[0], b[1]])
            } else {
                u16::from_be_bytes([b[0], b[1]])
            }
        });
        if !matches!(g, Some(0x0002 | 0x0008 | 0x0010 | 0x0018 | 0x0020 | 0x0028)) {
            last_err = "first element is not a DICOM header".into();
            continue;
        }
        let enc = match (explicit, little) {
            (false, _) => Enc::ImplicitLe,
            (true, true) => Enc::ExplicitLe,
            (true, false) => Enc::ExplicitBe,
        };
        match layout::walk(bytes, bytes.len() as u64, 0, Start::Raw(enc)) {
            Err(e) => {
                last_err = e;
                continue;
            }
            Ok(Walk::UndefinedUn { .. }) => {
                last_err = "a UN element of undefined length".into();
                continue;
            }
            Ok(_) => {}
        }
        match InMemDicomObject::read_dataset_with_ts(bytes, ts) {
            Ok(ds) => {
                // Accept a parse only if it found real attributes, as a DICOM reader would.
                let plausible = ds
                    .iter()
                    .any(|e| matches!(e.header().tag.group(), 0x0008 | 0x0028));
                if !plausible {
                    last_err = "no DICOM preamble and no recognisable data set".into();
                    continue;
                }
                let builder = FileMetaTableBuilder::new()
                    .transfer_syntax(ts_uid)
                    .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid("2.25.0");
                let obj = ds
                    .with_meta(builder)
                    .map_err(|e| DecodeError::Corrupt(format!("cannot wrap raw data set: {e}")))?;
                return Ok(Opened {
                    obj,
                    pixel: None,
                    inferred: true,
                });
            }
            Err(e) => last_err = e.to_string(),
        }
    }
    Err(DecodeError::Unsupported(format!(
        "not a DICOM file (no preamble, no meta group, and no data set could be parsed: {last_err})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_guess_from_first_header() {
        // (0008,0005) CS explicit little endian
        let ele = [0x08, 0x00, 0x05, 0x00, b'C', b'S', 0x0a, 0x00];
        assert_eq!(candidate_syntaxes(&ele)[0], uids::EXPLICIT_VR_LITTLE_ENDIAN);
        // implicit little endian: length follows directly
        let ile = [0x08, 0x00, 0x05, 0x00, 0x0a, 0x00, 0x00, 0x00];
        assert_eq!(candidate_syntaxes(&ile)[0], uids::IMPLICIT_VR_LITTLE_ENDIAN);
        // explicit big endian
        let ebe = [0x00, 0x08, 0x00, 0x05, b'C', b'S', 0x00, 0x0a];
        assert_eq!(candidate_syntaxes(&ebe)[0], EXPLICIT_VR_BIG_ENDIAN);
        assert_eq!(candidate_syntaxes(&ebe).len(), 3);
    }

    #[test]
    fn corrupt_lengths_are_refused_before_parsing() {
        // implicit LE: a 4 GB-ish length, as a raw data set and behind a meta group
        let b = [0x08, 0x00, 0x05, 0x00, 0xf0, 0xff, 0xff, 0xf0, 0, 0];
        assert!(open_bytes(&b).is_err());
        let mut p10 = vec![0u8; 128];
        p10.extend_from_slice(b"DICM");
        p10.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I', 18, 0]);
        p10.extend_from_slice(b"1.2.840.10008.1.2\0");
        p10.extend_from_slice(&b);
        assert!(matches!(open_bytes(&p10), Err(DecodeError::Corrupt(_))));
    }

    #[test]
    fn pixels_are_read_in_place_after_the_header() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/dicom/pydicom/CT_small.dcm"
        ))
        .unwrap();
        let opened = open_bytes(&bytes).unwrap();
        assert!(opened.obj.get(tags::PIXEL_DATA).is_none());
        assert!(opened.obj.get(tags::ROWS).is_some());
        match opened.pixel {
            Some(PixelData::Native(px)) => assert_eq!(px.len(), 128 * 128 * 2),
            other => panic!("expected native pixels in place, got {other:?}"),
        }
    }

    #[test]
    fn text_is_not_dicom() {
        let err = open_bytes(b"hello, this is plainly not a DICOM file\n").err();
        assert!(matches!(err, Some(DecodeError::Unsupported(_))), "{err:?}");
    }
}
