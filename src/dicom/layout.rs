//! The element headers of a data set, walked without reading any value.
//!
//! Two uses share this walk:
//! - the length check: a header that cannot be right (an invalid VR, a defined length longer
//!   than the rest of the file) is refused before the parser sees it, because the parser
//!   trusts a length and allocates it (gigabytes, for a few bytes of a broken file);
//! - the position of the top-level Pixel Data element, so that pixels are taken straight
//!   from the file's bytes ([`pixel_data`]) instead of being parsed into values and copied.
//!
//! Little and big endian, explicit and implicit VR, nested sequences of defined or
//! undefined length. A deflated data set is not walked.

use std::borrow::Cow;

/// How a data set's element headers are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enc {
    ExplicitLe,
    ImplicitLe,
    ExplicitBe,
}

impl Enc {
    fn little(self) -> bool {
        self != Enc::ExplicitBe
    }
}

/// Where the walk starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// After "DICM": the file meta group (explicit VR little endian), whose transfer syntax
    /// names the data set's encoding. `flip`: read the data set in the other VR
    /// explicitness than declared (writers that declare one and write the other).
    Part10 { flip: bool },
    /// A data set with no meta group, in the given encoding.
    Raw(Enc),
}

/// How the walk ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The top-level Pixel Data element's header starts at `pos`; the data set is `enc`.
    PixelData { pos: usize, enc: Enc },
    /// The buffer ended first (it may hold only the head of a file).
    End,
    /// The data set is deflated: not walked.
    Deflated,
    /// A UN element of undefined length (legal, PS3.5 6.2.2): its items are implicit VR,
    /// which the parser mis-reads and then allocates whatever the misread bytes say.
    UndefinedUn { group: u16, elem: u16 },
}

pub(crate) const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
pub(crate) const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
pub(crate) const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1.99";

/// Explicit VRs with a 4-byte length after two reserved bytes.
fn long_vr(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

struct Walker<'a> {
    buf: &'a [u8],
    /// Size of the whole file (`buf` may be only its head).
    size: u64,
}

/// One element header.
struct Header {
    group: u16,
    elem: u16,
    /// Bytes of the header itself.
    len_at: usize,
    len: u32,
    /// Encoding of an undefined-length value's items (UN: implicit VR).
    inner: Enc,
}

/// The file meta group while it is being read.
struct MetaState {
    /// Still inside the meta group.
    open: bool,
    flip: bool,
    ts: Option<String>,
}

enum Step {
    Header(Header),
    /// The buffer ends inside this header.
    End,
}

impl Walker<'_> {
    fn u16(&self, at: usize, little: bool) -> Option<u16> {
        let b: [u8; 2] = self.buf.get(at..at + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize, little: bool) -> Option<u32> {
        let b: [u8; 4] = self.buf.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn header(&self, pos: usize, enc: Enc) -> Result<Step, String> {
        let le = enc.little();
        let (Some(group), Some(elem)) = (self.u16(pos, le), self.u16(pos + 2, le)) else {
            return Ok(Step::End);
        };
        // Item and delimiter tags have no VR in any encoding.
        if group == 0xFFFE || enc == Enc::ImplicitLe {
            let Some(len) = self.u32(pos + 4, le) else {
                return Ok(Step::End);
            };
            return Ok(Step::Header(Header {
                group,
                elem,
                len_at: 8,
                len,
                inner: enc,
            }));
        }
        let Some(vr) = self.buf.get(pos + 4..pos + 6) else {
            return Ok(Step::End);
        };
        if !vr.iter().all(u8::is_ascii_uppercase) {
            return Err(format!(
                "element ({group:04X},{elem:04X}) at byte {pos} has no valid VR"
            ));
        }
        let inner = if vr == b"UN" { Enc::ImplicitLe } else { enc };
        let (len_at, len) = if long_vr(vr) {
            (12, self.u32(pos + 8, le))
        } else {
            (8, self.u16(pos + 6, le).map(u32::from))
        };
        let Some(len) = len else {
            return Ok(Step::End);
        };
        Ok(Step::Header(Header {
            group,
            elem,
            len_at,
            len,
            inner,
        }))
    }

    /// Elements from `pos` up to the end, or to the item delimiter when `in_item`.
    /// `Ok(Some(p))`: the position after the item delimiter; `Ok(None)`: the walk is
    /// over, as `out` says.
    fn dataset(
        &self,
        mut pos: usize,
        mut enc: Enc,
        in_item: bool,
        depth: u32,
        meta: &mut MetaState,
        out: &mut Walk,
    ) -> Result<Option<usize>, String> {
        if depth > 32 {
            return Err("sequences nested too deeply".into());
        }
        loop {
            if depth == 0 && meta.open {
                // The meta group is over once a group other than 0002 starts.
                let group = self.u16(pos, true);
                if group.is_some_and(|g| g != 0x0002) {
                    meta.open = false;
                    let ts = meta.ts.as_deref().unwrap_or("");
                    let declared = match ts {
                        IMPLICIT_VR_LITTLE_ENDIAN => Enc::ImplicitLe,
                        EXPLICIT_VR_BIG_ENDIAN => Enc::ExplicitBe,
                        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => {
                            *out = Walk::Deflated;
                            return Ok(None);
                        }
                        _ => Enc::ExplicitLe,
                    };
                    enc = match (declared, meta.flip) {
                        (e, false) => e,
                        (Enc::ImplicitLe, true) => Enc::ExplicitLe,
                        (_, true) => Enc::ImplicitLe,
                    };
                }
            }
            let h = match self.header(pos, enc)? {
                Step::Header(h) => h,
                Step::End => {
                    *out = Walk::End;
                    return Ok(None);
                }
            };
            if depth == 0 && (h.group, h.elem) == (0x7FE0, 0x0010) {
                *out = Walk::PixelData { pos, enc };
                return Ok(None);
            }
            if h.group == 0xFFFE {
                return if in_item && h.elem == 0xE00D {
                    Ok(Some(pos + 8))
                } else {
                    Err(format!(
                        "unexpected item tag (FFFE,{:04X}) at byte {pos}",
                        h.elem
                    ))
                };
            }
            if meta.open && (h.group, h.elem) == (0x0002, 0x0010) {
                let v = self
                    .buf
                    .get(pos + h.len_at..pos + h.len_at + h.len as usize)
                    .unwrap_or_default();
                meta.ts = Some(
                    String::from_utf8_lossy(v)
                        .trim_end_matches(['\0', ' '])
                        .to_string(),
                );
            }
            pos += h.len_at;
            if h.len == u32::MAX {
                if enc != Enc::ImplicitLe && h.inner == Enc::ImplicitLe {
                    *out = Walk::UndefinedUn {
                        group: h.group,
                        elem: h.elem,
                    };
                    return Ok(None);
                }
                match self.sequence(pos, h.inner, depth + 1, meta, out)? {
                    Some(p) => pos = p,
                    None => return Ok(None),
                }
                continue;
            }
            let left = self.size.saturating_sub(pos as u64);
            if h.len as u64 > left {
                return Err(format!(
                    "element ({:04X},{:04X}) declares {} bytes but only {left} remain in the file",
                    h.group, h.elem, h.len
                ));
            }
            pos += h.len as usize;
        }
    }

    /// Items of an undefined-length value from `pos` up to its delimiter; returns the
    /// position after it.
    fn sequence(
        &self,
        mut pos: usize,
        enc: Enc,
        depth: u32,
        meta: &mut MetaState,
        out: &mut Walk,
    ) -> Result<Option<usize>, String> {
        let le = enc.little();
        loop {
            let (Some(group), Some(elem), Some(len)) = (
                self.u16(pos, le),
                self.u16(pos + 2, le),
                self.u32(pos + 4, le),
            ) else {
                *out = Walk::End;
                return Ok(None);
            };
            match (group, elem) {
                (0xFFFE, 0xE0DD) => return Ok(Some(pos + 8)),
                (0xFFFE, 0xE000) if len == u32::MAX => {
                    match self.dataset(pos + 8, enc, true, depth, meta, out)? {
                        Some(p) => pos = p,
                        None => return Ok(None),
                    }
                }
                (0xFFFE, 0xE000) => {
                    let left = self.size.saturating_sub(pos as u64 + 8);
                    if len as u64 > left {
                        return Err(format!(
                            "sequence item declares {len} bytes but only {left} remain in the file"
                        ));
                    }
                    pos += 8 + len as usize;
                }
                _ => return Err(format!("malformed sequence at byte {pos}")),
            }
        }
    }
}

/// Walk the element headers of `buf` (the whole file, or its first bytes, of a file of
/// `size` bytes) from `start_at`, without reading any value. Fails on the first header that
/// cannot be right.
pub(crate) fn walk(buf: &[u8], size: u64, start_at: usize, start: Start) -> Result<Walk, String> {
    let w = Walker { buf, size };
    let (enc, mut meta) = match start {
        Start::Part10 { flip } => (
            Enc::ExplicitLe,
            MetaState {
                open: true,
                flip,
                ts: None,
            },
        ),
        Start::Raw(enc) => (
            enc,
            MetaState {
                open: false,
                flip: false,
                ts: None,
            },
        ),
    };
    let mut out = Walk::End;
    w.dataset(start_at, enc, false, 0, &mut meta, &mut out)?;
    Ok(out)
}

/// The value of a Pixel Data element read in place.
#[derive(Debug)]
pub(crate) enum PixelData<'a> {
    /// Native pixels (defined length): the value's bytes as stored.
    Native(&'a [u8]),
    /// Encapsulated: the basic offset table and the fragments.
    Encapsulated {
        offsets: Cow<'a, [u32]>,
        fragments: Vec<&'a [u8]>,
    },
}

/// Where the defined-length (native) Pixel Data value whose header starts at `pos` ends;
/// `None` for encapsulated pixels or a value cut short by the end of `bytes`.
pub(crate) fn native_end(bytes: &[u8], pos: usize, enc: Enc) -> Option<usize> {
    let w = Walker {
        buf: bytes,
        size: bytes.len() as u64,
    };
    let Ok(Step::Header(h)) = w.header(pos, enc) else {
        return None;
    };
    if h.len == u32::MAX {
        return None;
    }
    let end = pos + h.len_at + h.len as usize;
    (end <= bytes.len()).then_some(end)
}

/// Read the Pixel Data element whose header starts at `pos` (from [`walk`]). A native value cut short by the end of the file is returned cut short
/// (the frame decoder names what is missing); broken encapsulation is an error.
pub(crate) fn pixel_data(bytes: &[u8], pos: usize, enc: Enc) -> Result<PixelData<'_>, String> {
    let w = Walker {
        buf: bytes,
        size: bytes.len() as u64,
    };
    let Step::Header(h) = w.header(pos, enc)? else {
        return Err("Pixel Data header is cut short".into());
    };
    let start = pos + h.len_at;
    if h.len != u32::MAX {
        let end = start.saturating_add(h.len as usize).min(bytes.len());
        return Ok(PixelData::Native(bytes.get(start..end).unwrap_or_default()));
    }
    let le = enc.little();
    let mut at = start;
    let mut offsets: Option<Cow<[u32]>> = None;
    let mut fragments = Vec::new();
    loop {
        let (Some(group), Some(elem), Some(len)) =
            (w.u16(at, le), w.u16(at + 2, le), w.u32(at + 4, le))
        else {
            if at == bytes.len() && offsets.is_some() {
                // Every item is whole and only the closing delimiter is missing: the
                // fragments are usable (as the parser, and pydicom, take them).
                break;
            }
            return Err("encapsulated Pixel Data ends without its delimiter".into());
        };
        match (group, elem) {
            (0xFFFE, 0xE0DD) => break,
            (0xFFFE, 0xE000) if len != u32::MAX => {
                let value = bytes
                    .get(at + 8..at + 8 + len as usize)
                    .ok_or_else(|| format!("fragment of {len} bytes at byte {at} is cut short"))?;
                if offsets.is_none() {
                    offsets = Some(Cow::Owned(
                        value
                            .chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    ));
                } else {
                    fragments.push(value);
                }
                at += 8 + len as usize;
            }
            _ => return Err(format!("malformed encapsulated Pixel Data at byte {at}")),
        }
    }
    Ok(PixelData::Encapsulated {
        offsets: offsets.unwrap_or(Cow::Borrowed(&[])),
        fragments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An explicit VR little endian element.
    fn ex(group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&group.to_le_bytes());
        b.extend_from_slice(&elem.to_le_bytes());
        b.extend_from_slice(vr);
        if long_vr(vr) {
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            b.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        b.extend_from_slice(value);
        b
    }

    #[test]
    fn finds_top_level_pixel_data_past_sequences_and_icon_pixels() {
        let mut b = ex(0x0008, 0x0060, b"CS", b"CT");
        // An undefined-length sequence whose one undefined-length item holds Pixel Data
        // (an icon image): not the top-level one.
        b.extend_from_slice(&[0x88, 0x00, 0x00, 0x02, b'S', b'Q', 0, 0]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend(ex(0x7FE0, 0x0010, b"OB", &[1, 2, 3, 4]));
        b.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let at = b.len();
        b.extend(ex(0x7FE0, 0x0010, b"OW", &[9, 0, 8, 0]));
        let w = walk(&b, b.len() as u64, 0, Start::Raw(Enc::ExplicitLe)).unwrap();
        assert_eq!(
            w,
            Walk::PixelData {
                pos: at,
                enc: Enc::ExplicitLe
            }
        );
        match pixel_data(&b, at, Enc::ExplicitLe).unwrap() {
            PixelData::Native(v) => assert_eq!(v, &[9, 0, 8, 0]),
            other => panic!("{other:?}"),
        }
        assert_eq!(native_end(&b, at, Enc::ExplicitLe), Some(b.len()));
        assert_eq!(native_end(&b[..b.len() - 1], at, Enc::ExplicitLe), None);
    }

    #[test]
    fn reads_encapsulated_fragments_in_place() {
        let mut b = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0];
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        // offset table with two entries, then two fragments
        b.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0]);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&10u32.to_le_bytes());
        b.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 2, 0, 0, 0, 0xAA, 0xBB]);
        b.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 1, 0, 0, 0, 0xCC]);
        b.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let PixelData::Encapsulated { offsets, fragments } =
            pixel_data(&b, 0, Enc::ExplicitLe).unwrap()
        else {
            panic!("expected fragments");
        };
        assert_eq!(&offsets[..], &[0, 10]);
        assert_eq!(fragments, vec![&[0xAA, 0xBB][..], &[0xCC][..]]);
        // no delimiter after whole items: the fragments are kept
        let cut = &b[..b.len() - 8];
        match pixel_data(cut, 0, Enc::ExplicitLe).unwrap() {
            PixelData::Encapsulated { fragments, .. } => assert_eq!(fragments.len(), 2),
            other => panic!("{other:?}"),
        }
        // an item cut short: an error, not a panic
        let torn = &b[..b.len() - 10];
        assert!(pixel_data(torn, 0, Enc::ExplicitLe).is_err());
    }

    #[test]
    fn big_endian_and_implicit_headers_and_bad_lengths() {
        // implicit VR little endian: (0008,0060) length 2, then Pixel Data
        let mut b = vec![0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, b'M', b'R'];
        b.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, 2, 0, 0, 0, 7, 0]);
        let w = walk(&b, b.len() as u64, 0, Start::Raw(Enc::ImplicitLe)).unwrap();
        assert_eq!(
            w,
            Walk::PixelData {
                pos: 10,
                enc: Enc::ImplicitLe
            }
        );
        // explicit VR big endian
        let mut b = vec![0x00, 0x08, 0x00, 0x60, b'C', b'S', 0, 2, b'M', b'R'];
        b.extend_from_slice(&[0x7F, 0xE0, 0x00, 0x10, b'O', b'W', 0, 0, 0, 0, 0, 2, 0, 7]);
        let w = walk(&b, b.len() as u64, 0, Start::Raw(Enc::ExplicitBe)).unwrap();
        assert_eq!(
            w,
            Walk::PixelData {
                pos: 10,
                enc: Enc::ExplicitBe
            }
        );
        // a length past the end of the file
        let b = ex(0x0008, 0x0020, b"DA", &[0; 4]);
        let mut bad = b.clone();
        bad[6] = 0xff;
        let err = walk(&bad, bad.len() as u64, 0, Start::Raw(Enc::ExplicitLe)).unwrap_err();
        assert!(err.contains("declares"), "{err}");
        // only the head of a longer file: the walk ends without an error
        let w = walk(&b, 1 << 20, 0, Start::Raw(Enc::ExplicitLe)).unwrap();
        assert_eq!(w, Walk::End);
        // no VR where one belongs
        let mut novr = b.clone();
        novr[4] = 0;
        assert!(walk(&novr, novr.len() as u64, 0, Start::Raw(Enc::ExplicitLe)).is_err());
    }

    #[test]
    fn meta_group_names_the_data_set_encoding() {
        let ts = b"1.2.840.10008.1.2\0";
        let mut b = ex(0x0002, 0x0010, b"UI", ts);
        // implicit data set
        b.extend_from_slice(&[0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, b'M', b'R']);
        let at = b.len();
        b.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, 2, 0, 0, 0, 7, 0]);
        let w = walk(&b, b.len() as u64, 0, Start::Part10 { flip: false }).unwrap();
        assert_eq!(
            w,
            Walk::PixelData {
                pos: at,
                enc: Enc::ImplicitLe
            }
        );
        // read as the other VR explicitness, the implicit element has no VR
        assert!(walk(&b, b.len() as u64, 0, Start::Part10 { flip: true }).is_err());
    }
}
